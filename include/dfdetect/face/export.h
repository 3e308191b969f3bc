// Writing what the face stage found for one video, as a folder that datasets, people and other
// tools can read:
//   faces.json            the video, the sampled frames, the outcome and, per identity and
//                         frame, the box, score, keypoints, face presence, crop placement and
//                         the 468 landmarks (frame pixels, continuous coordinates)
//   face<k>/<index>.png   the aligned crops of identity k, named by the frame's display index
//   face<k>.mp4           optional: identity k's crops as a clip
//   sheet.png             optional: the sampled frames with boxes, crop squares and landmarks
// The folder is built under a temporary name beside `dir` and swapped in whole: readers see the
// previous folder or the new one, never part of one.
#ifndef DFD_FACE_EXPORT_H
#define DFD_FACE_EXPORT_H

#include <stdbool.h>

#include "dfdetect/face/faces.h"
#include "dfdetect/video/video.h"

typedef struct dfd_face_export_opts {
    bool crops;           // write the crops as PNG (default true)
    bool landmarks;       // include the 468 landmarks in faces.json (default true)
    bool video;           // write face<k>.mp4 (default false)
    double video_fps;     // frame rate of those clips (default 0: frames / sampled time span,
                          // between 1 and the video's rate)
    bool sheet;           // write sheet.png (default false)
    int sheet_tile;       // width of each frame on the sheet (default 320)
    const char *sampling; // name of the sampling policy, recorded in faces.json (may be NULL)
    const dfd_face_opts *face_opts; // settings recorded in faces.json (may be NULL)
} dfd_face_export_opts;

dfd_face_export_opts dfd_face_export_opts_default(void);

// Write the folder `dir` (its parent must exist; an existing folder is replaced) for the result
// `r` of the frames `frames` of the video `info`. `seconds_decode` is recorded with the stage
// timings. Errors: DFD_ERR_IO (naming the file), DFD_ERR_INVALID (dir exists and is not a
// folder), DFD_ERR_NOMEM, and the MP4 writer's; nothing is left at or beside `dir` on error.
dfd_status dfd_face_export(const char *dir, const dfd_face_result *r, const dfd_frame_set *frames,
                           const dfd_video_info *info, double seconds_decode,
                           const dfd_face_export_opts *opts, dfd_error *err);

// The contact sheet alone: the frames scaled to tile_width with each identity's boxes, crop
// squares and landmarks drawn in its colour, labelled with index, time and scores. Allocates
// *out. Errors: DFD_ERR_NOMEM, DFD_ERR_INVALID (no frames).
dfd_status dfd_face_sheet(dfd_image *out, const dfd_face_result *r, const dfd_frame_set *frames,
                          const char *title, int tile_width);

// faces.json as text (allocated, free with dfd_free); NULL when out of memory. The files it names
// (crops and clips, as opts asks) are relative to the folder.
char *dfd_face_result_json(const dfd_face_result *r, const dfd_frame_set *frames,
                           const dfd_video_info *info, double seconds_decode,
                           const dfd_face_export_opts *opts);

#endif
