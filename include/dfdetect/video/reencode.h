// H.264 re-compression in memory: a short sequence of RGB images is encoded as a video at a
// given quality and decoded back, which is what a sharing platform does to a face before anyone
// scans it. Training augmentation (data/augment.h) uses it so that a detector does not learn
// compression artefacts as evidence. Only src/video includes libav* headers; nothing here does.
#ifndef DFD_VIDEO_REENCODE_H
#define DFD_VIDEO_REENCODE_H

#include <stddef.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Encode the n images `in` (RGB, c = 3, all the same size, at least 2 x 2; views are fine) as
// consecutive frames of an H.264 stream at constant rate factor `crf` (0 lossless .. 51 worst;
// libx264 preset "veryfast", one thread, 4:2:0 BT.709 limited range, as dfd_video_writer
// writes), decode the stream and convert the frames back to RGB into out[0..n-1] (allocated
// here, same size as the input; the caller frees each with dfd_image_free). Odd sizes are padded
// by repeating the last column or row for coding and cut back afterwards. Without libx264 in
// the linked FFmpeg, the MPEG-4 Part 2 encoder is used with the quantiser dfd_video_writer maps
// the CRF to. Deterministic: the same input and crf give the same output.
// Errors: DFD_ERR_INVALID (n == 0, c != 3, sizes differ, crf out of range),
// DFD_ERR_LIMIT (a side over 8192), DFD_ERR_UNSUPPORTED (no encoder or decoder),
// DFD_ERR_FORMAT (the decoder returned a different number of frames), DFD_ERR_NOMEM.
// On error every out[i] is empty. Thread-safe (distinct calls share nothing).
dfd_status dfd_video_reencode(dfd_image *out, const dfd_image *in, size_t n, int crf,
                              dfd_error *err);

// Name of the encoder dfd_video_reencode uses: "libx264" or "mpeg4" (NULL when neither exists).
const char *dfd_video_reencode_encoder(void);

#endif
