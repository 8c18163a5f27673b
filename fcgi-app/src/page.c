/*
 * The page / answers a browser: the time in the zone, which pod served it,
 * this pod's count, the service's total and each pod's share as a bar.
 * Nothing is loaded from elsewhere: one inline stylesheet and one inline
 * script, each allowed by nginx's Content-Security-Policy through its
 * sha256 (tests recompute both). Bars are SVG rects sized by attribute,
 * which the policy allows without 'unsafe-inline' (style attributes it
 * would not). Light and dark follow prefers-color-scheme; the layout is one
 * column that fits a phone.
 */
#include "page.h"

#include <stdio.h>
#include <string.h>

const char page_style[] =
    ":root{color-scheme:light dark;--bg:#f6f5f2;--fg:#1d1d1f;--muted:#5c5c63;--track:#e2dfd8;"
    "--bar:#b3123a;--other:#8e8e96}"
    "@media (prefers-color-scheme:dark){:root{--bg:#15161a;--fg:#ededf0;--muted:#a4a4ad;"
    "--track:#2d2e34;--bar:#ff6b81;--other:#6c6d76}}"
    "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;"
    "font-family:system-ui,sans-serif;background:var(--bg);color:var(--fg)}"
    "main{text-align:center;padding:2rem 1.25rem;width:100%;max-width:34rem;box-sizing:border-box}"
    "h1{font-weight:500;font-size:1.25rem;margin:0 0 1rem;color:var(--muted)}"
    "time{display:block;font-size:clamp(2rem,8vw,4rem);font-variant-numeric:tabular-nums;"
    "line-height:1.15;text-wrap:balance}"
    "p{margin:1.5rem 0 0;color:var(--muted)}"
    "strong{color:var(--fg);font-weight:600;overflow-wrap:anywhere}"
    "ul{list-style:none;margin:1rem 0 0;padding:0;text-align:left}"
    "li{display:grid;grid-template-columns:minmax(0,10rem) minmax(0,1fr) 7.5rem;gap:.3rem .75rem;"
    "align-items:center;margin:.45rem 0;font-size:.9rem;color:var(--muted)}"
    "@media (max-width:30rem){li{grid-template-columns:minmax(0,1fr) auto}"
    "li svg{grid-column:1/3;grid-row:2}li .n{grid-column:2;grid-row:1}}"
    "li span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    "li svg{display:block;width:100%;height:.7rem}"
    ".track{fill:var(--track)}.bar{fill:var(--other)}"
    "li.self{color:var(--fg);font-weight:600}li.self .bar{fill:var(--bar)}"
    "li.stale,li.unreached{font-style:italic}"
    ".n{font-variant-numeric:tabular-nums;text-align:right}";

/*
 * Keeps the clock current from the server's time: the offset comes from the
 * time's datetime attribute, the format from the body's data-clock-format (only plain numeric
 * conversions: see clock_tick_format()); the time advances with the
 * browser's monotonic clock, not its wall clock, which may be wrong.
 */
const char page_script[] =
    "(function(){"
    "var t=document.getElementById(\"time\"),f=document.body.getAttribute(\"data-clock-format\");"
    "if(!t||!f)return;"
    "var iso=t.getAttribute(\"datetime\"),z=/([+-])(\\d\\d):(\\d\\d)$/.exec(iso);"
    "if(!z)return;"
    "var off=(z[1]===\"-\"?-1:1)*(z[2]*60+ +z[3])*60000,"
    "base=Date.parse(iso)-performance.now();"
    "function two(n){return(n<10?\"0\":\"\")+n}"
    "function tick(){"
    "var now=base+performance.now(),d=new Date(now+off),"
    "v={Y:d.getUTCFullYear(),m:two(d.getUTCMonth()+1),d:two(d.getUTCDate()),"
    "H:two(d.getUTCHours()),M:two(d.getUTCMinutes()),S:two(d.getUTCSeconds()),\"%\":\"%\"};"
    "t.textContent=f.replace(/%([YmdHMS%])/g,function(_,c){return v[c]});"
    "t.setAttribute(\"datetime\",v.Y+\"-\"+v.m+\"-\"+v.d+\"T\"+v.H+\":\"+v.M+\":\"+v.S+z[0]);"
    "setTimeout(tick,1000-now%1000+5)}"
    "setTimeout(tick,1000-(base+performance.now())%1000+5)"
    "})();";

#define PUT(e, lit) TEXT_LIT((e), (lit))

/*
 * s with the characters HTML gives meaning to escaped; the runs between
 * them are copied whole. The page is built with text_put() rather than a
 * printf per piece: on a visit's path that cost microseconds.
 */
static void
html(struct text *e, const char *s)
{
        for (;;) {
                size_t run = strcspn(s, "<>&\"'");
                text_put(e, s, run);
                s += run;
                switch (*s) {
                case '\0': return;
                case '<': PUT(e, "&lt;"); break;
                case '>': PUT(e, "&gt;"); break;
                case '&': PUT(e, "&amp;"); break;
                case '"': PUT(e, "&quot;"); break;
                default: PUT(e, "&#39;"); break;
                }
                s++;
        }
}

/*
 * One pod's row: name, bar, count and share. The share is of sum, the
 * counts' sum in 128 bits: the total saturates at 2^63-1, the shares must
 * not (two pods at 2^63-1 have half each).
 */
static void
pod_row(const struct cluster_view_entry *p, unsigned __int128 sum, struct text *e)
{
        /* Tenths of a percent, in integers: no floating point on a request's path. */
        unsigned __int128 scaled = (unsigned __int128)p->visits * 1000 + sum / 2;
        uint64_t permille = sum ? (uint64_t)(scaled / sum) : 0;

        PUT(e, "<li class=\"");
        text_str(e, cluster_state_name(p->state));
        PUT(e, "\"><span>");
        if (p->name[0] != '\0') {
                html(e, p->name);
        } else {
                /* An address that never answered: by its number, as the public answer has it. */
                char unnamed[24];
                snprintf(unnamed, sizeof(unnamed), "peer#%u", p->index);
                text_str(e, unnamed);
        }
        PUT(e, "</span><svg viewBox=\"0 0 1000 10\" preserveAspectRatio=\"none\" "
               "aria-hidden=\"true\"><rect class=\"track\" width=\"1000\" height=\"10\"/>"
               "<rect class=\"bar\" width=\"");
        text_dec(e, permille);
        PUT(e, "\" height=\"10\"/></svg><span class=\"n\">");
        text_dec(e, p->visits);
        PUT(e, " · ");
        text_dec(e, (permille + 5) / 10);
        PUT(e, "%");
        if (p->state != CLUSTER_SELF && p->state != CLUSTER_FRESH) {
                PUT(e, " ");
                text_str(e, cluster_state_name(p->state));
        }
        PUT(e, "</span></li>\n");
}

static void
cluster_part(const struct cluster_view *v, struct text *e)
{
        PUT(e, "<p>Served by pod <strong id=\"pod\">");
        html(e, v->self);
        PUT(e, "</strong> &middot; <strong id=\"total\">");
        text_dec(e, v->total);
        PUT(e, "</strong> visits to the service");
        if (v->saturated)
                PUT(e, " <span id=\"saturated\">(or more: the most the total can say)</span>");
        if (v->partial)
                PUT(e, " <span id=\"partial\">(partial: a pod is stale, unreached or in "
                       "conflict)</span>");
        PUT(e, "</p>\n<ul id=\"pods\" aria-label=\"Each pod's share of the visits\">\n");
        unsigned __int128 sum = 0;
        for (size_t i = 0; i < v->n; i++)
                sum += v->e[i].visits;
        for (size_t i = 0; i < v->n && i < PAGE_PODS_SHOWN; i++)
                pod_row(&v->e[i], sum, e);
        if (v->n > PAGE_PODS_SHOWN)
                text_printf(e, "<li><span>and %zu more pods</span></li>\n", v->n - PAGE_PODS_SHOWN);
        PUT(e, "</ul>\n");
}

void
page_render(const struct page *p, struct text *e)
{
        PUT(e, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta name=\"color-scheme\" content=\"light dark\">\n<title>Time in ");
        html(e, p->city);
        PUT(e, "</title>\n<style>");
        text_put(e, page_style, sizeof(page_style) - 1);
        PUT(e, "</style>\n</head>\n<body");
        if (p->t->tick[0]) {
                PUT(e, " data-clock-format=\"");
                html(e, p->t->tick);
                PUT(e, "\"");
        }
        PUT(e, ">\n<main>\n<h1>Current time in ");
        html(e, p->city);
        PUT(e, "</h1>\n<time id=\"time\" datetime=\"");
        text_str(e, p->t->iso);
        PUT(e, "\">");
        html(e, p->t->local);
        PUT(e, "</time>\n<p>Visits: <span id=\"visits\">");
        text_dec(e, p->visits);
        PUT(e, "</span></p>\n");
        if (p->cluster != NULL)
                cluster_part(p->cluster, e);
        PUT(e, "</main>\n<script>");
        text_put(e, page_script, sizeof(page_script) - 1);
        PUT(e, "</script>\n</body>\n</html>\n");
}
