// dfdetect frames VIDEO --count N [--sampling uniform|bursts] [--out DIR] [--grid FILE.png]:
// sample frames as the detector would, write them as PNG and/or as a labelled contact sheet.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/report/grid.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/video/video.h"

static const char frames_help[] =
    "usage: dfdetect frames VIDEO [--count N] [--sampling uniform|bursts] [--burst-len L]\n"
    "                      [--out DIR] [--grid FILE.png] [--json] [--threads N]\n"
    "\n"
    "Sample N frames the way the detector does and save them. Frames are turned to display\n"
    "orientation (rotation metadata applied).\n"
    "\n"
    "sampling policies:\n"
    "  uniform   N frames evenly spaced in time (default)\n"
    "  bursts    runs of L consecutive frames (default 8), each starting at a keyframe and\n"
    "            spread over the video: real motion between neighbours, few frames decoded\n"
    "\n"
    "options:\n"
    "  --count N       frames to sample (default 16; fewer if the video is shorter)\n"
    "  --out DIR       write each frame as DIR/frame_<index>.png (created if missing)\n"
    "  --grid FILE     write a labelled contact sheet of the frames as PNG\n"
    "  --cols N        columns of the contact sheet (default: about square)\n"
    "  --json          print the chosen frames, timings and decoder statistics as JSON\n"
    "  --threads N     decoder threads (default: one per CPU)\n"
    "  --help          this text\n"
    "\n"
    "Without --out or --grid the frames are decoded and listed, and nothing is written.\n"
    "Outputs are written completely or not at all.\n";

// Files written so far, removed again if a later step fails.
typedef struct written {
    char **paths;
    size_t n;
} written;

static void written_rollback(written *w)
{
    for (size_t i = 0; i < w->n; i++) {
        unlink(w->paths[i]);
    }
}

static void written_free(written *w)
{
    for (size_t i = 0; i < w->n; i++) {
        dfd_free(w->paths[i]);
    }
    dfd_free(w->paths);
}

static dfd_status write_frames(written *w, const dfd_frame_set *set, const char *dir,
                               dfd_error *err)
{
    dfd_status st = dfd_mkdir_p(dir, err);
    if (st) {
        return st;
    }
    w->paths = dfd_calloc(set->n, sizeof *w->paths);
    if (!w->paths) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < set->n; i++) {
        char path[4096];
        int len = snprintf(path, sizeof path, "%s/frame_%06lld.png", dir,
                           (long long)set->frames[i].index);
        if (len < 0 || (size_t)len >= sizeof path) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: output path too long", dir);
        }
        st = dfd_png_write(path, &set->frames[i].image, err);
        if (st) {
            return st;
        }
        w->paths[w->n] = dfd_strdup(path);
        if (!w->paths[w->n]) {
            unlink(path);
            return dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
        }
        w->n++;
    }
    return DFD_OK;
}

static dfd_status write_grid(const dfd_frame_set *set, const dfd_video_info *info,
                             const char *policy, int cols, const char *path, dfd_error *err)
{
    dfd_image *tiles = dfd_calloc(set->n, sizeof *tiles);
    char(*labels)[48] = dfd_calloc(set->n, sizeof *labels);
    const char **label_ptrs = dfd_calloc(set->n, sizeof *label_ptrs);
    dfd_status st = DFD_OK;
    if (!tiles || !labels || !label_ptrs) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < set->n; i++) {
        const dfd_frame *f = &set->frames[i];
        tiles[i] = f->image;
        snprintf(labels[i], sizeof labels[i], "#%lld  t=%.2fs%s", (long long)f->index, f->pts_s,
                 f->is_keyframe ? "  key" : "");
        label_ptrs[i] = labels[i];
    }
    const char *base = strrchr(info->path, '/');
    char title[768]; // room for the longest path in info (512) and the numbers
    snprintf(title, sizeof title, "%s  %dx%d  %.2f fps  %zu frames (%s)",
             base ? base + 1 : info->path, info->display_width, info->display_height, info->fps,
             set->n, policy);
    dfd_grid_opts go = dfd_grid_opts_default();
    go.cols = cols;
    go.title = title;
    dfd_image sheet = { 0 };
    st = dfd_grid_render(&sheet, tiles, label_ptrs, set->n, &go);
    if (st) {
        dfd_error_set(err, st, "%s: cannot render the contact sheet (%s)", path,
                      dfd_status_str(st));
        goto done;
    }
    st = dfd_png_write(path, &sheet, err);
    dfd_image_free(&sheet);
done:
    dfd_free(tiles);
    dfd_free(labels);
    dfd_free(label_ptrs);
    return st;
}

static void print_json(const dfd_video_info *info, const dfd_frame_set *set, const char *policy,
                       const written *w, const char *grid, double t_open, double t_sample,
                       const dfd_video_stats *vs)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return;
    }
    cJSON_AddStringToObject(o, "video", info->path);
    cJSON_AddStringToObject(o, "sampling", policy);
    cJSON *arr = cJSON_AddArrayToObject(o, "frames");
    for (size_t i = 0; arr && i < set->n; i++) {
        const dfd_frame *f = &set->frames[i];
        cJSON *fo = cJSON_CreateObject();
        if (!fo) {
            break;
        }
        cJSON_AddNumberToObject(fo, "index", (double)f->index);
        cJSON_AddNumberToObject(fo, "pts_s", f->pts_s);
        cJSON_AddBoolToObject(fo, "keyframe", f->is_keyframe);
        cJSON_AddNumberToObject(fo, "width", f->image.w);
        cJSON_AddNumberToObject(fo, "height", f->image.h);
        if (w->n == set->n) {
            cJSON_AddStringToObject(fo, "file", w->paths[i]);
        }
        cJSON_AddItemToArray(arr, fo);
    }
    if (grid) {
        cJSON_AddStringToObject(o, "grid", grid);
    }
    cJSON *t = cJSON_AddObjectToObject(o, "timing_s");
    if (t) {
        cJSON_AddNumberToObject(t, "open", t_open);
        cJSON_AddNumberToObject(t, "sample", t_sample);
    }
    cJSON *s = cJSON_AddObjectToObject(o, "decoder");
    if (s) {
        cJSON_AddNumberToObject(s, "packets_read", (double)vs->packets_read);
        cJSON_AddNumberToObject(s, "packets_sent", (double)vs->packets_sent);
        cJSON_AddNumberToObject(s, "packets_dropped", (double)vs->packets_dropped);
        cJSON_AddNumberToObject(s, "frames_decoded", (double)vs->frames_decoded);
        cJSON_AddNumberToObject(s, "seeks", (double)vs->seeks);
        cJSON_AddBoolToObject(s, "forward_scan", vs->forward_scan);
    }
    char *text = cJSON_Print(o);
    if (text) {
        printf("%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(o);
}

static int run_frames(int argc, char **argv)
{
    bool json = false, help = false;
    int count = 16, burst_len = 8, threads = 0, cols = 0;
    const char *sampling = "uniform", *out_dir = NULL, *grid = NULL;
    const cli_opt opts[] = {
        { "count", CLI_INT, &count, 1, 10000 },
        { "sampling", CLI_STRING, &sampling, 0, 0 },
        { "burst-len", CLI_INT, &burst_len, 1, 1000 },
        { "out", CLI_STRING, &out_dir, 0, 0 },
        { "grid", CLI_STRING, &grid, 0, 0 },
        { "cols", CLI_INT, &cols, 1, 100 },
        { "json", CLI_FLAG, &json, 0, 0 },
        { "threads", CLI_INT, &threads, 0, 256 },
    };
    const char *pos[1];
    size_t n_pos;
    int rc = cli_parse(&cli_frames, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 1, &n_pos,
                       &help);
    if (rc || help) {
        return rc;
    }
    if (n_pos != 1) {
        cli_error("frames: give one video (usage: dfdetect frames VIDEO --count N)");
        return CLI_USAGE;
    }
    dfd_sampling policy = { .burst_len = burst_len };
    if (dfd_sampling_parse(&policy.kind, sampling) != DFD_OK) {
        cli_error("frames: unknown sampling policy '%s' (use uniform or bursts)", sampling);
        return CLI_USAGE;
    }

    dfd_error err;
    dfd_error_clear(&err);
    dfd_video_opts vo = dfd_video_opts_default();
    vo.n_threads = threads;
    dfd_video *v = NULL;
    dfd_frame_set set = { 0 };
    written w = { 0 };
    double t0 = dfd_now();
    dfd_status st = dfd_video_open(&v, pos[0], &vo, &err);
    double t1 = dfd_now();
    if (!st) {
        dfd_progress bar;
        dfd_progress_begin(&bar, stderr, "frames", (size_t)count, cli_show_progress(json));
        st = dfd_video_sample(&set, v, &policy, (size_t)count, dfd_progress_callback, &bar, &err);
        dfd_progress_end(&bar);
    }
    double t2 = dfd_now();
    dfd_video_info info;
    if (!st) {
        dfd_video_probe(&info, v);
    }
    if (!st && out_dir) {
        st = write_frames(&w, &set, out_dir, &err);
    }
    if (!st && grid) {
        st = write_grid(&set, &info, sampling, cols, grid, &err);
    }
    if (st) {
        written_rollback(&w); // all or nothing
        rc = cli_fail(&err);
    } else if (json) {
        dfd_video_stats vs;
        dfd_video_last_stats(&vs, v);
        print_json(&info, &set, sampling, &w, grid, t1 - t0, t2 - t1, &vs);
    } else {
        for (size_t i = 0; i < set.n; i++) {
            const dfd_frame *f = &set.frames[i];
            printf("%6lld  %8.3fs  %s%s\n", (long long)f->index, f->pts_s,
                   w.n == set.n ? w.paths[i] : "", f->is_keyframe ? "  (keyframe)" : "");
        }
        if (grid) {
            printf("contact sheet: %s\n", grid);
        }
    }
    written_free(&w);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
    return rc;
}

const cli_command cli_frames = {
    .name = "frames",
    .summary = "sample frames (uniform or bursts) and save them as PNG or a contact sheet",
    .help = frames_help,
    .run = run_frames,
};
