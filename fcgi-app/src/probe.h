#ifndef MT_PROBE_H
#define MT_PROBE_H

#include <stddef.h>

#define PROBE_TIMEOUT_DEFAULT_S 2
#define PROBE_TIMEOUT_MAX_S     60

/*
 * The liveness probe: asks the responder listening on socket_path for
 * GET /visits over FastCGI, as nginx would, and waits at most timeout_ms for
 * the whole answer. Returns 0 when it answered 200. Otherwise returns
 * EX_UNAVAILABLE (no socket, refused, no or a wrong answer in time) or
 * EX_OSERR (this process could not make a socket), with one line in err.
 */
int probe_run(const char *socket_path, int timeout_ms, char *err, size_t errlen);

/* `moscow-time --probe CONFIG [SECONDS]`: probe_run on CONFIG's socket; or 64, 78. */
int probe_main(const char *config_path, const char *seconds);

#endif
