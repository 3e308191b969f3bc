// Helpers shared by the files of src/detect (no other module includes this).
#ifndef DFD_DETECT_INTERNAL_H
#define DFD_DETECT_INTERNAL_H

#include "dfdetect/detect/head.h"
#include "dfdetect/util/status.h"

// A new head with src's options and weights, in inference mode: a private copy for one thread
// (a forward keeps state), running on that one thread. Errors: those of dfd_head_create.
dfd_status detect_head_copy(dfd_head **out, dfd_head *src, dfd_error *err);

#endif
