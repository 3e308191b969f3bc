// dfdetect probe VIDEO... [--json] [--fast]: describe videos (container, codec, size, rotation,
// frame rate, duration, frame count and where it comes from, audio).
#include <cjson/cJSON.h>

#include "cli.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/video/video.h"

static const char probe_help[] =
    "usage: dfdetect probe VIDEO... [--json] [--fast] [--threads N]\n"
    "\n"
    "Describe each video: container, codec, frame size, display rotation, frame rate (and\n"
    "whether it varies), duration, frame count, keyframes and audio.\n"
    "\n"
    "By default every packet is read (no decoding) so the frame count is exact; --fast reads\n"
    "only the headers and reports the container's count or an estimate, and says which.\n"
    "\n"
    "options:\n"
    "  --json      one JSON document: {\"videos\": [...]}, errors included per video\n"
    "  --fast      headers only (no packet scan)\n"
    "  --help      this text\n"
    "\n"
    "Exit code 0 when every video could be read, 1 when any could not.\n";

static const char *count_source_name(dfd_count_source s)
{
    switch (s) {
    case DFD_COUNT_SCANNED:
        return "exact";
    case DFD_COUNT_HEADER:
        return "header";
    case DFD_COUNT_ESTIMATED:
        return "estimated";
    }
    return "unknown";
}

static void print_text(const dfd_video_info *in)
{
    printf("%s\n", in->path);
    printf("  container   %s\n", in->container);
    printf("  codec       %s (%s)\n", in->codec, in->pix_fmt);
    printf("  size        %dx%d", in->width, in->height);
    if (in->rotation) {
        printf(", rotated %d degrees: displayed %dx%d", in->rotation, in->display_width,
               in->display_height);
    }
    printf("\n");
    printf("  fps         %.3f (%s)\n", in->fps, in->is_vfr ? "variable, average" : "constant");
    printf("  duration    %.3f s (first frame at %.3f s)\n", in->duration_s, in->start_s);
    printf("  frames      %lld (%s)\n", (long long)in->n_frames,
           count_source_name(in->n_frames_source));
    if (in->n_keyframes >= 0) {
        printf("  keyframes   %lld\n", (long long)in->n_keyframes);
    }
    printf("  audio       %s\n", in->has_audio ? "yes" : "no");
}

static cJSON *info_json(const dfd_video_info *in)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "path", in->path);
    cJSON_AddStringToObject(o, "container", in->container);
    cJSON_AddStringToObject(o, "codec", in->codec);
    cJSON_AddStringToObject(o, "pix_fmt", in->pix_fmt);
    cJSON_AddNumberToObject(o, "width", in->width);
    cJSON_AddNumberToObject(o, "height", in->height);
    cJSON_AddNumberToObject(o, "rotation", in->rotation);
    cJSON_AddNumberToObject(o, "display_width", in->display_width);
    cJSON_AddNumberToObject(o, "display_height", in->display_height);
    cJSON_AddNumberToObject(o, "fps", in->fps);
    cJSON_AddBoolToObject(o, "variable_frame_rate", in->is_vfr);
    cJSON_AddNumberToObject(o, "duration_s", in->duration_s);
    cJSON_AddNumberToObject(o, "start_s", in->start_s);
    cJSON_AddNumberToObject(o, "frames", (double)in->n_frames);
    cJSON_AddStringToObject(o, "frames_count", count_source_name(in->n_frames_source));
    if (in->n_keyframes >= 0) {
        cJSON_AddNumberToObject(o, "keyframes", (double)in->n_keyframes);
    }
    cJSON_AddBoolToObject(o, "audio", in->has_audio);
    cJSON_AddNumberToObject(o, "bit_rate", (double)in->bit_rate);
    cJSON_AddNumberToObject(o, "file_bytes", (double)in->file_bytes);
    return o;
}

static cJSON *error_json(const char *path, const dfd_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_CreateObject();
    if (!o || !e) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(e, "code", dfd_status_str(err->code));
    cJSON_AddStringToObject(e, "message", dfd_error_message(err));
    cJSON_AddItemToObject(o, "error", e);
    return o;
}

static int run_probe(int argc, char **argv)
{
    bool json = false, fast = false, help = false;
    int threads = 0;
    const cli_opt opts[] = {
        { "json", CLI_FLAG, &json, 0, 0 },
        { "fast", CLI_FLAG, &fast, 0, 0 },
        { "threads", CLI_INT, &threads, 0, 256 },
    };
    const char **paths;
    size_t n;
    int rc = cli_parse_many(&cli_probe, argc, argv, opts, sizeof opts / sizeof opts[0], &paths, &n,
                            &help);
    if (rc || help) {
        dfd_free(paths);
        return rc;
    }
    if (n == 0) {
        cli_error("probe: no video given (usage: dfdetect probe VIDEO... [--json])");
        dfd_free(paths);
        return CLI_USAGE;
    }
    cJSON *doc = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = json ? cJSON_AddArrayToObject(doc, "videos") : NULL;
    if (json && !arr) {
        cJSON_Delete(doc);
        dfd_free(paths);
        cli_error("out of memory");
        return CLI_FAILED;
    }
    int status = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        dfd_error err;
        dfd_error_clear(&err);
        dfd_video_opts vo = dfd_video_opts_default();
        vo.scan = !fast;
        vo.n_threads = threads;
        dfd_video *v = NULL;
        if (dfd_video_open(&v, paths[i], &vo, &err) != DFD_OK) {
            cli_error("%s", dfd_error_message(&err));
            status = CLI_FAILED;
            if (json) {
                cJSON_AddItemToArray(arr, error_json(paths[i], &err));
            }
            continue;
        }
        dfd_video_info info;
        dfd_video_probe(&info, v);
        dfd_video_close(v);
        if (json) {
            cJSON_AddItemToArray(arr, info_json(&info));
        } else {
            if (i > 0) {
                printf("\n");
            }
            print_text(&info);
        }
    }
    if (json) {
        char *s = cJSON_Print(doc);
        if (s) {
            printf("%s\n", s);
            cJSON_free(s);
        } else {
            cli_error("out of memory writing JSON");
            status = CLI_FAILED;
        }
        cJSON_Delete(doc);
    }
    dfd_free(paths);
    return status;
}

const cli_command cli_probe = {
    .name = "probe",
    .summary = "describe videos: codec, size, rotation, fps, duration, frame count",
    .help = probe_help,
    .run = run_probe,
};
