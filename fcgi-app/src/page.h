#ifndef MT_PAGE_H
#define MT_PAGE_H

#include <stdint.h>

#include "clock.h"
#include "cluster.h"
#include "text.h"

/* What the page shows. */
struct page {
        const char *city;                   /* "Moscow" */
        const struct clock_text *t;         /* the time, and the format the script ticks */
        uint64_t visits;                    /* this pod's count, this visit included */
        const struct cluster_view *cluster; /* NULL: no pod name, no total */
};

/*
 * The HTML page: complete without script (the time as the server
 * formatted it, every count, the share bars in inline SVG); the one inline
 * script only keeps the clock ticking. nginx's Content-Security-Policy
 * allows the style and the script by their hashes.
 */
void page_render(const struct page *p, struct text *e);

/* The page's inline <style> and <script>, byte for byte (the hashes are theirs). */
extern const char page_style[];
extern const char page_script[];

#define PAGE_PODS_SHOWN 24 /* bars on the page; more pods are summed up in one line */

#endif
