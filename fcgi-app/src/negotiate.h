#ifndef MT_NEGOTIATE_H
#define MT_NEGOTIATE_H

#include <stddef.h>

/* Bytes of an Accept value looked at: nginx refuses longer header lines. */
#define NEGOTIATE_MAX 8192

/* The highest weight, q=1, in thousandths. */
#define NEGOTIATE_Q_MAX 1000

/* Types weighed at once; q[] past it stays 0. */
#define NEGOTIATE_TYPES_MAX 4

/*
 * Content negotiation (RFC 9110 12.5.1). Sets q[i] to the weight, in
 * thousandths, that the Accept value gives to types[i] ("type/subtype", no
 * parameters): that of the most specific media range matching it (type/sub,
 * then type/ *, then * / *), 0 if none does. No or an empty header accepts
 * everything (all 1000). A range that does not parse, or whose weight is not
 * a qvalue (q=2, q=NaN, q=0.0001), is ignored. One pass over at most
 * NEGOTIATE_MAX bytes, whatever the value holds.
 */
void negotiate_weigh(const char *accept, const char *const types[], int q[], size_t n);

#endif
