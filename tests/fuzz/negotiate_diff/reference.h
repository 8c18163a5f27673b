#ifndef MT_NEGOTIATE_REFERENCE_H
#define MT_NEGOTIATE_REFERENCE_H

#include <stddef.h>

/*
 * The Accept weigher of negotiate.h written again from RFC 9110 for the
 * differential fuzzer: the same contract, none of negotiate.c's shortcuts.
 * q[i] gets the weight (thousandths) of types[i]; see reference.c.
 */
void reference_weigh(const char *accept, const char *const types[], int q[], size_t n);

#endif
