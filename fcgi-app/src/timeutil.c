/*
 * clock_gettime() cannot fail for these clocks with a valid pointer
 * (clock_gettime(2): EINVAL and EFAULT only), so no error is reported.
 */
#include "timeutil.h"

#include <time.h>

static int64_t
ns_of(clockid_t id)
{
        struct timespec ts;

        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
now_mono_ns(void)
{
        return ns_of(CLOCK_MONOTONIC);
}

int64_t
now_mono_ms(void)
{
        return ns_of(CLOCK_MONOTONIC) / 1000000;
}

int64_t
now_real_ns(void)
{
        return ns_of(CLOCK_REALTIME);
}
