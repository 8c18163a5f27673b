#ifndef MT_TIMEUTIL_H
#define MT_TIMEUTIL_H

#include <stdint.h>

/*
 * The clocks the responder reads, in one place. CLOCK_MONOTONIC measures
 * durations and deadlines (a wall clock set back must not expire or revive
 * anything); CLOCK_REALTIME only stamps what a person or Prometheus reads.
 */
int64_t now_mono_ns(void);
int64_t now_mono_ms(void);
int64_t now_real_ns(void);

#endif
