#include "tests.h"

#include <stdio.h>

#include "clock.h"
#include "log.h"

int
main(void)
{
        int failed = 0;

        /* The counter's expected warnings ("created, starting at 0") would bury real failures. */
        log_set_level(LOG_LEVEL_ERROR);
        /* As the responder does before any thread starts; the clock tests put it back. */
        if (clock_init("Europe/Moscow") != 0) {
                fprintf(stderr, "clock_init(Europe/Moscow) failed\n");
                return 1;
        }
        /* Every group runs even when an earlier one failed. */
        failed |= config_tests() != 0;
        failed |= counter_tests() != 0;
        failed |= clock_tests() != 0;
        failed |= routes_tests() != 0;
        failed |= metrics_tests() != 0;
        failed |= cluster_tests() != 0;
        failed |= fastcgi_tests() != 0;
        failed |= counter_park_tests() != 0;
        failed |= operate_tests() != 0;
        failed |= conn_tests() != 0;
        return failed;
}
