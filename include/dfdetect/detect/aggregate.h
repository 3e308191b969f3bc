// From per-frame scores to a video's: how the frames of one identity are combined when no
// temporal head is used (or to compare with it), and how identities make the video's answer.
#ifndef DFD_DETECT_AGGREGATE_H
#define DFD_DETECT_AGGREGATE_H

#include <stddef.h>

#include "dfdetect/util/status.h"

typedef enum dfd_aggregate {
    DFD_AGG_MEAN = 0,  // the mean frame probability
    DFD_AGG_VOTE,      // majority vote: the fraction of frames above 0.5 (a tie counts as FAKE
                       // at the 0.5 threshold, as in the seed's rule "REAL only if real frames
                       // outnumber fake ones")
    DFD_AGG_CONFIDENT, // the DFDC winner's rule: when many frames are confidently fake (over
                       // 0.8: more than 40 % of them and more than 11 per 32 frames) the mean of
                       // those; else when over 90 % are confidently real (under 0.2) the mean of
                       // those; else the mean of all
    DFD_AGG_COUNT
} dfd_aggregate;

// "mean", "vote" or "confident". DFD_ERR_INVALID otherwise.
dfd_status dfd_aggregate_parse(dfd_aggregate *out, const char *name);
const char *dfd_aggregate_name(dfd_aggregate how);

// The probability of a sequence of n >= 1 frame probabilities (NaN for n == 0).
float dfd_aggregate_frames(dfd_aggregate how, const float *p, size_t n);

// A video's probability from its identities' (n >= 1): the most suspicious one, since a single
// swapped face makes the video fake. NaN for n == 0.
float dfd_aggregate_identities(const float *p, size_t n);

#endif
