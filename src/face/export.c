// The per-video face folder: faces.json, crops, clips and the contact sheet.
#include "dfdetect/face/export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/report/grid.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/video/writer.h"

#define MAX_PATH 4096
#define PI_D     3.14159265358979323846

dfd_face_export_opts dfd_face_export_opts_default(void)
{
    dfd_face_export_opts o = { .crops = true,
                               .landmarks = true,
                               .video = false,
                               .video_fps = 0,
                               .sheet = false,
                               .sheet_tile = 320,
                               .sampling = NULL,
                               .face_opts = NULL };
    return o;
}

// Identity colours on the sheet, cycled.
static const uint8_t palette[6][3] = { { 40, 230, 60 },  { 255, 170, 0 },  { 0, 170, 255 },
                                       { 255, 60, 200 }, { 240, 240, 40 }, { 160, 90, 255 } };

// ---- faces.json ----

static double r2(double x)
{
    return round(x * 100) / 100;
}

static void add_num(cJSON *o, const char *name, double x)
{
    cJSON_AddNumberToObject(o, name, r2(x));
}

static cJSON *num_array(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(r2((double)v[i])));
    }
    return a;
}

// The landmarks as raw JSON text ("[[x,y,z],...]", 0.01 pixel), much smaller than cJSON's
// full-precision numbers. NULL when out of memory.
static char *landmarks_text(const float (*lm)[3])
{
    size_t cap = (size_t)DFD_MESH_POINTS * 3 * 16 + 16, len = 0;
    char *s = dfd_malloc(cap);
    if (!s) {
        return NULL;
    }
    s[len++] = '[';
    for (int i = 0; i < DFD_MESH_POINTS; i++) {
        int k = snprintf(s + len, cap - len, "%s[%.2f,%.2f,%.2f]", i ? "," : "", (double)lm[i][0],
                         (double)lm[i][1], (double)lm[i][2]);
        if (k < 0 || (size_t)k >= cap - len) {
            dfd_free(s);
            return NULL;
        }
        len += (size_t)k;
    }
    s[len++] = ']';
    s[len] = '\0';
    return s;
}

static void crop_name(char *out, size_t n, size_t id, int64_t index)
{
    snprintf(out, n, "face%zu/%06lld.png", id, (long long)index);
}

static cJSON *obs_json(const dfd_face_obs *ob, size_t id, const dfd_face_export_opts *o)
{
    cJSON *f = cJSON_CreateObject();
    if (!f) {
        return NULL;
    }
    cJSON_AddNumberToObject(f, "frame_index", (double)ob->frame_index);
    cJSON_AddNumberToObject(f, "pts_s", round(ob->pts_s * 1e4) / 1e4);
    const float box[4] = { ob->det.x0, ob->det.y0, ob->det.x1, ob->det.y1 };
    cJSON_AddItemToObject(f, "box", num_array(box, 4));
    cJSON_AddNumberToObject(f, "score", round((double)ob->det.score * 1e4) / 1e4);
    cJSON *kp = cJSON_AddArrayToObject(f, "keypoints");
    for (int p = 0; kp && p < DFD_KP_COUNT; p++) {
        cJSON_AddItemToArray(kp, num_array(ob->det.kp[p], 2));
    }
    cJSON_AddNumberToObject(f, "presence", round((double)ob->presence * 1e4) / 1e4);
    cJSON *c = cJSON_AddObjectToObject(f, "crop");
    if (c) {
        add_num(c, "cx", (double)ob->cx);
        add_num(c, "cy", (double)ob->cy);
        add_num(c, "side", (double)ob->side);
        add_num(c, "roll_deg", (double)ob->roll * 180 / PI_D);
        if (o->crops) {
            char name[64];
            crop_name(name, sizeof name, id, ob->frame_index);
            cJSON_AddStringToObject(c, "file", name);
        }
    }
    if (o->landmarks && ob->landmarks) {
        char *text = landmarks_text((const float(*)[3])ob->landmarks);
        if (text) {
            cJSON_AddRawToObject(f, "landmarks", text);
            dfd_free(text);
        }
    }
    return f;
}

static void settings_json(cJSON *root, const dfd_face_export_opts *o)
{
    if (!o->face_opts) {
        return;
    }
    const dfd_face_opts *fo = o->face_opts;
    cJSON *s = cJSON_AddObjectToObject(root, "settings");
    if (!s) {
        return;
    }
    cJSON_AddNumberToObject(s, "crop_size", fo->crop_size);
    add_num(s, "margin", (double)fo->margin);
    add_num(s, "min_score", (double)fo->detector.min_score);
    add_num(s, "min_size", (double)fo->detector.min_size);
    add_num(s, "min_presence", (double)fo->min_presence);
    add_num(s, "min_track_frac", (double)fo->min_track_frac);
    cJSON_AddNumberToObject(s, "min_track_frames", fo->min_track_frames);
    cJSON_AddNumberToObject(s, "max_gap", fo->max_gap);
    cJSON_AddBoolToObject(s, "tiles", fo->detector.tiles);
}

char *dfd_face_result_json(const dfd_face_result *r, const dfd_frame_set *frames,
                           const dfd_video_info *info, double seconds_decode,
                           const dfd_face_export_opts *opts)
{
    dfd_face_export_opts o = opts ? *opts : dfd_face_export_opts_default();
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        return NULL;
    }
    cJSON_AddStringToObject(root, "video", info->path);
    cJSON_AddNumberToObject(root, "width", info->display_width);
    cJSON_AddNumberToObject(root, "height", info->display_height);
    add_num(root, "fps", info->fps);
    add_num(root, "duration_s", info->duration_s);
    cJSON_AddNumberToObject(root, "frames_total", (double)info->n_frames);
    if (o.sampling) {
        cJSON_AddStringToObject(root, "sampling", o.sampling);
    }
    cJSON *fr = cJSON_AddArrayToObject(root, "frames");
    for (size_t i = 0; fr && i < frames->n; i++) {
        cJSON *f = cJSON_CreateObject();
        if (f) {
            cJSON_AddNumberToObject(f, "index", (double)frames->frames[i].index);
            cJSON_AddNumberToObject(f, "pts_s", round(frames->frames[i].pts_s * 1e4) / 1e4);
            cJSON_AddItemToArray(fr, f);
        }
    }
    cJSON_AddStringToObject(root, "outcome", dfd_face_outcome_name(r->outcome));
    cJSON_AddStringToObject(root, "reason", r->reason);
    cJSON_AddNumberToObject(root, "frames_with_face", (double)r->n_frames_with_face);
    settings_json(root, &o);
    cJSON *ids = cJSON_AddArrayToObject(root, "identities");
    for (size_t i = 0; ids && i < r->n_ids; i++) {
        const dfd_face_identity *id = &r->ids[i];
        cJSON *io = cJSON_CreateObject();
        if (!io) {
            break;
        }
        cJSON_AddNumberToObject(io, "id", (double)i);
        cJSON_AddNumberToObject(io, "n_frames", (double)id->n);
        cJSON_AddNumberToObject(io, "mean_score", round((double)id->mean_score * 1e4) / 1e4);
        if (o.video) {
            char name[32];
            snprintf(name, sizeof name, "face%zu.mp4", i);
            cJSON_AddStringToObject(io, "video", name);
        }
        cJSON *faces = cJSON_AddArrayToObject(io, "faces");
        for (size_t k = 0; faces && k < id->n; k++) {
            cJSON_AddItemToArray(faces, obs_json(&id->obs[k], i, &o));
        }
        cJSON_AddItemToArray(ids, io);
    }
    cJSON_AddNumberToObject(root, "detector_inputs", (double)r->n_detector_inputs);
    cJSON *t = cJSON_AddObjectToObject(root, "timing_s");
    if (t) {
        cJSON_AddNumberToObject(t, "decode", round(seconds_decode * 1e4) / 1e4);
        cJSON_AddNumberToObject(t, "detect", round(r->seconds_detect * 1e4) / 1e4);
        cJSON_AddNumberToObject(t, "landmarks", round(r->seconds_mesh * 1e4) / 1e4);
        cJSON_AddNumberToObject(t, "crop", round(r->seconds_crop * 1e4) / 1e4);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        return NULL;
    }
    // Hand back memory of our allocator (cJSON's is malloc).
    char *out = dfd_strdup(text);
    cJSON_free(text);
    return out;
}

// ---- the contact sheet ----

static void draw_obs(dfd_image *tile, const dfd_face_obs *ob, float k, const uint8_t col[3])
{
    int t = tile->w >= 480 ? 2 : 1;
    int x0 = (int)lroundf(ob->det.x0 * k), y0 = (int)lroundf(ob->det.y0 * k);
    int x1 = (int)lroundf(ob->det.x1 * k), y1 = (int)lroundf(ob->det.y1 * k);
    dfd_draw_rect(tile, x0, y0, x1 - x0 + 1, y1 - y0 + 1, t, col);
    // The crop square, turned by the roll: corners at centre +- half side along the crop axes.
    float c = cosf(ob->roll), s = sinf(ob->roll), h = ob->side / 2;
    float ux = c * h, uy = -s * h, vx = s * h, vy = c * h; // crop x and y axes, in frame pixels
    float px[4] = { -ux - vx, ux - vx, ux + vx, -ux + vx },
          py[4] = { -uy - vy, uy - vy, uy + vy, -uy + vy };
    const uint8_t grey[3] = { 230, 230, 230 };
    for (int i = 0; i < 4; i++) {
        int j = (i + 1) % 4;
        dfd_draw_line(tile, (int)lroundf((ob->cx + px[i]) * k), (int)lroundf((ob->cy + py[i]) * k),
                      (int)lroundf((ob->cx + px[j]) * k), (int)lroundf((ob->cy + py[j]) * k), 1,
                      grey);
    }
    if (ob->landmarks) {
        for (int i = 0; i < DFD_MESH_POINTS; i++) {
            int x = (int)floorf(ob->landmarks[i][0] * k), y = (int)floorf(ob->landmarks[i][1] * k);
            dfd_draw_fill_rect(tile, x, y, 1, 1, col);
        }
    }
}

dfd_status dfd_face_sheet(dfd_image *out, const dfd_face_result *r, const dfd_frame_set *frames,
                          const char *title, int tile_width)
{
    memset(out, 0, sizeof *out);
    if (frames->n == 0 || tile_width < 16) {
        return DFD_ERR_INVALID;
    }
    dfd_image *tiles = dfd_calloc(frames->n, sizeof *tiles);
    char(*labels)[64] = dfd_calloc(frames->n, sizeof *labels);
    const char **lp = dfd_calloc(frames->n, sizeof *lp);
    dfd_status st = tiles && labels && lp ? DFD_OK : DFD_ERR_NOMEM;
    for (size_t f = 0; !st && f < frames->n; f++) {
        const dfd_image *img = &frames->frames[f].image;
        int th = (int)lround((double)img->h * tile_width / img->w);
        st = dfd_image_alloc(&tiles[f], tile_width, th < 1 ? 1 : th, 3);
        if (!st) {
            st = dfd_image_resize(&tiles[f], img, DFD_RESIZE_AREA);
        }
        int len = snprintf(labels[f], sizeof labels[f], "#%lld t=%.2fs",
                           (long long)frames->frames[f].index, frames->frames[f].pts_s);
        float k = (float)tile_width / (float)img->w;
        for (size_t i = 0; !st && i < r->n_ids; i++) {
            for (size_t j = 0; j < r->ids[i].n; j++) {
                const dfd_face_obs *ob = &r->ids[i].obs[j];
                if (ob->frame != f) {
                    continue;
                }
                draw_obs(&tiles[f], ob, k, palette[i % 6]);
                if (len > 0 && (size_t)len < sizeof labels[f]) {
                    len += snprintf(labels[f] + len, sizeof labels[f] - (size_t)len, " f%zu %.2f",
                                    i, (double)ob->det.score);
                }
            }
        }
        lp[f] = labels[f];
    }
    if (!st) {
        dfd_grid_opts go = dfd_grid_opts_default();
        go.tile_width = tile_width;
        go.title = title;
        st = dfd_grid_render(out, tiles, lp, frames->n, &go);
    }
    for (size_t f = 0; tiles && f < frames->n; f++) {
        dfd_image_free(&tiles[f]);
    }
    dfd_free(tiles);
    dfd_free(labels);
    dfd_free(lp);
    return st;
}

// ---- the folder ----

// out = dir/name; DFD_ERR_LIMIT when it does not fit.
static dfd_status join(char out[MAX_PATH], const char *dir, const char *name, dfd_error *err)
{
    int n = snprintf(out, MAX_PATH, "%s/%s", dir, name);
    if (n < 0 || n >= MAX_PATH) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: path too long", dir);
    }
    return DFD_OK;
}

static dfd_status write_bytes(const char *path, const void *data, size_t n, dfd_error *err)
{
    // Plain writes: the whole folder is published at once, so files need no rename of their own.
    FILE *f = fopen(path, "wb");
    if (!f) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot create", path);
    }
    size_t w = fwrite(data, 1, n, f);
    int closed = fclose(f);
    if (w != n || closed != 0) {
        return dfd_error_set(err, DFD_ERR_IO, "%s: write failed (disk full?)", path);
    }
    return DFD_OK;
}

static dfd_status write_png(const char *path, const dfd_image *img, dfd_error *err)
{
    void *buf;
    size_t n;
    dfd_status st = dfd_png_encode(&buf, &n, img, err);
    if (!st) {
        st = write_bytes(path, buf, n, err);
        dfd_free(buf);
    }
    return st;
}

static dfd_status write_crops(const char *tmp, const dfd_face_result *r, dfd_error *err)
{
    for (size_t i = 0; i < r->n_ids; i++) {
        char path[MAX_PATH], name[64];
        snprintf(name, sizeof name, "face%zu", i);
        dfd_status st = join(path, tmp, name, err);
        if (!st) {
            st = dfd_mkdir_p(path, err);
        }
        for (size_t k = 0; !st && k < r->ids[i].n; k++) {
            crop_name(name, sizeof name, i, r->ids[i].obs[k].frame_index);
            st = join(path, tmp, name, err);
            if (!st) {
                st = write_png(path, &r->ids[i].obs[k].crop, err);
            }
        }
        if (st) {
            return st;
        }
    }
    return DFD_OK;
}

// Frames per second of the face clips: the sampled frames over their time span.
static double clip_fps(const dfd_face_export_opts *o, const dfd_frame_set *frames,
                       const dfd_video_info *info)
{
    if (o->video_fps > 0) {
        return o->video_fps;
    }
    double span = frames->n > 1 ? frames->frames[frames->n - 1].pts_s - frames->frames[0].pts_s : 0;
    double fps = span > 0 ? (double)(frames->n - 1) / span : 1;
    double top = info->fps > 0 ? info->fps : 30;
    return fps < 1 ? 1 : (fps > top ? top : fps);
}

static dfd_status write_clips(const char *tmp, const dfd_face_result *r, double fps, dfd_error *err)
{
    for (size_t i = 0; i < r->n_ids; i++) {
        const dfd_face_identity *id = &r->ids[i];
        char path[MAX_PATH], name[32];
        snprintf(name, sizeof name, "face%zu.mp4", i);
        dfd_video_writer *w = NULL;
        dfd_status st = join(path, tmp, name, err);
        if (!st) {
            st = dfd_video_writer_open(&w, path, id->obs[0].crop.w, id->obs[0].crop.h, fps, NULL,
                                       err);
        }
        for (size_t k = 0; !st && k < id->n; k++) {
            st = dfd_video_writer_write(w, &id->obs[k].crop, err);
        }
        if (st) {
            dfd_video_writer_abort(w);
            return st;
        }
        st = dfd_video_writer_close(w, err);
        if (st) {
            return st;
        }
    }
    return DFD_OK;
}

static dfd_status fill_folder(const char *tmp, const dfd_face_result *r,
                              const dfd_frame_set *frames, const dfd_video_info *info,
                              double seconds_decode, const dfd_face_export_opts *o, dfd_error *err)
{
    char path[MAX_PATH];
    char *json = dfd_face_result_json(r, frames, info, seconds_decode, o);
    if (!json) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", tmp);
    }
    dfd_status st = join(path, tmp, "faces.json", err);
    if (!st) {
        st = write_bytes(path, json, strlen(json), err);
    }
    dfd_free(json);
    if (!st && o->crops) {
        st = write_crops(tmp, r, err);
    }
    if (!st && o->video) {
        st = write_clips(tmp, r, clip_fps(o, frames, info), err);
    }
    if (!st && o->sheet && frames->n) {
        const char *base = strrchr(info->path, '/');
        char title[1024];
        snprintf(title, sizeof title, "%s  %dx%d  %zu frames  %s", base ? base + 1 : info->path,
                 info->display_width, info->display_height, frames->n, r->reason);
        dfd_image sheet;
        st = dfd_face_sheet(&sheet, r, frames, title, o->sheet_tile);
        if (st) {
            return dfd_error_set(err, st, "%s/sheet.png: cannot draw the sheet", tmp);
        }
        st = join(path, tmp, "sheet.png", err);
        if (!st) {
            st = write_png(path, &sheet, err);
        }
        dfd_image_free(&sheet);
    }
    return st;
}

dfd_status dfd_face_export(const char *dir, const dfd_face_result *r, const dfd_frame_set *frames,
                           const dfd_video_info *info, double seconds_decode,
                           const dfd_face_export_opts *opts, dfd_error *err)
{
    dfd_face_export_opts o = opts ? *opts : dfd_face_export_opts_default();
    char tmp[MAX_PATH];
    dfd_status st = dfd_temp_dir_create(tmp, sizeof tmp, dir, err);
    if (st) {
        return st;
    }
    st = fill_folder(tmp, r, frames, info, seconds_decode, &o, err);
    if (!st) {
        st = dfd_dir_publish(tmp, dir, err);
    }
    if (st) {
        dfd_remove_tree(tmp, NULL);
    }
    return st;
}
