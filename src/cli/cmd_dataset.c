// dfdetect dataset stats|grid|cache: look at a labelled dataset before training on it. `stats`
// counts items, labels, groups, methods and video lengths (and draws the label distribution),
// `grid` shows frames of fakes beside their originals and the difference, `cache` runs the face
// stage over the dataset into the face cache that training and evaluation read.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/data/dataset.h"
#include "dfdetect/data/facecache.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/report/grid.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/threads.h"
#include "dfdetect/video/video.h"

static const char dataset_help[] =
    "usage: dfdetect dataset stats DIR|FILE [--json] [--chart FILE.png]\n"
    "       dfdetect dataset grid DIR|FILE --out FILE.png [--n 4]\n"
    "       dfdetect dataset cache DIR|FILE [--cache DIR] [--jobs N]\n"
    "\n"
    "Look at a labelled dataset of videos and images. A dataset is a folder holding\n"
    "metadata.json (DFDC: {\"file\": {\"label\": \"FAKE\", \"original\": ..., \"split\": ...}}),\n"
    "or labels.csv, or real/ and fake/ subfolders; or a CSV file with a header naming at least\n"
    "the columns file and label (optional: original, method, identity_group).\n"
    "\n"
    "  stats   counts: items, labels, media kinds, groups (what a split keeps together),\n"
    "          manipulation methods, video lengths; a label distribution chart\n"
    "  grid    frames of fakes beside their originals and the difference, as one PNG\n"
    "  cache   run the face stage over every item into the face cache (what training reads)\n"
    "\n"
    "'dfdetect dataset COMMAND --help' describes each.\n";

static const char stats_help[] =
    "usage: dfdetect dataset stats DIR|FILE [--json] [--chart FILE.png] [--group-by COL]\n"
    "                              [--no-probe]\n"
    "\n"
    "Count a dataset: items, REAL and FAKE, videos and images, groups (items joined by the\n"
    "group column, by a fake's original, or by name: a split never separates a group),\n"
    "fakes whose original is in the dataset, manipulation methods (the CSV's method column),\n"
    "and the length, frame size and rate of the videos (headers only: fast).\n"
    "\n"
    "options:\n"
    "  --json            the counts as one JSON document\n"
    "  --chart FILE.png  a bar chart of the labels per method (or per media kind)\n"
    "  --group-by COL    the CSV column naming groups (default: identity_group if present)\n"
    "  --no-probe        do not open the videos (no lengths, sizes or rates)\n"
    "  --help            this text\n"
    "\n"
    "Every listed file must exist: a missing one is an error naming the list's file and line.\n"
    "exit codes: 0 counted, 1 the dataset could not be read, 2 usage error\n";

static const char grid_help[] =
    "usage: dfdetect dataset grid DIR|FILE --out FILE.png [--n 4] [--seed S] [--tile W]\n"
    "\n"
    "Draw n rows, each a FAKE item's middle frame beside its original's (when the dataset\n"
    "names one and has it; else a REAL item) and, for a same-size pair, their absolute\n"
    "difference amplified 4 times: where the manipulation is. Rows are picked at random with\n"
    "the seed. Images are shown as they are.\n"
    "\n"
    "options:\n"
    "  --out FILE.png    the picture to write (required)\n"
    "  --n N             rows (default 4)\n"
    "  --seed S          which items (default 1)\n"
    "  --tile W          width of each frame in pixels (default 320)\n"
    "  --group-by COL    as for stats\n"
    "  --help            this text\n";

static const char cache_help[] =
    "usage: dfdetect dataset cache DIR|FILE [--cache DIR] [--jobs N] [--frames N] [--size N]\n"
    "                              [--sampling uniform|bursts] [--images MODE] [--json]\n"
    "\n"
    "Run the face stage (sampling, detection, tracking, landmarks, crops: the code scanning\n"
    "runs) over every item and keep the crops in the face cache, keyed by the file's content\n"
    "and these settings; items already cached are only read. Then read every entry once more\n"
    "and report how fast the cache loads (what training pays each epoch).\n"
    "\n"
    "options:\n"
    "  --cache DIR       the cache folder (default $DFD_CACHE, else ~/.cache/dfdetect/faces)\n"
    "  --jobs N          items processed at once (default: one per CPU, at most one per\n"
    "                    item)\n"
    "  --frames N        frames sampled per video (default 32)\n"
    "  --sampling P      bursts (default, as dfdetect train and scan) or uniform\n"
    "  --size N          side of the crops (default 224)\n"
    "  --images MODE     auto (default: whole when the image is a face crop: no face found,\n"
    "                    or its face spans half its width or more; else the face stage),\n"
    "                    detect_or_whole (the face stage, else the whole image), detect, or\n"
    "                    whole (the images are face crops already)\n"
    "  --models DIR      the face models (default: the repository's models/)\n"
    "  --json            the summary as JSON\n"
    "  --help            this text\n"
    "\n"
    "exit codes: 0 every item cached, 1 some item or the dataset could not be read, 2 usage\n";

static const cli_command sub_stats = { .name = "dataset stats", .summary = "", .help = stats_help };
static const cli_command sub_grid = { .name = "dataset grid", .summary = "", .help = grid_help };
static const cli_command sub_cache = { .name = "dataset cache", .summary = "", .help = cache_help };

// Parse a subcommand's options and its one dataset argument. Returns the exit code to end with
// (usage error, or CLI_OK after --help with *path NULL), or CLI_OK with *path set.
static int parse_sub(const cli_command *sub, int argc, char **argv, const cli_opt *opts,
                     size_t n_opts, const char **path)
{
    const char *pos[1];
    size_t n_pos;
    bool help = false;
    *path = NULL;
    int rc = cli_parse(sub, argc, argv, opts, n_opts, pos, 1, &n_pos, &help);
    if (rc || help) {
        return rc;
    }
    if (n_pos != 1) {
        cli_error("%s: give one dataset folder or list file (see --help)", sub->name);
        return CLI_USAGE;
    }
    *path = pos[0];
    return CLI_OK;
}

static int load_dataset(dfd_dataset *ds, const char *path, const char *group_by)
{
    dfd_dataset_opts o = dfd_dataset_opts_default();
    o.group_column = group_by;
    dfd_error err;
    if (dfd_dataset_load(ds, path, &o, &err) != DFD_OK) {
        return cli_fail(&err);
    }
    return CLI_OK;
}

// ---- stats ----

typedef struct video_stats {
    size_t probed, failed;
    double dur_sum, dur_min, dur_max, fps_min, fps_max;
    int w_min, w_max, h_min, h_max;
    char first_error[300];
} video_stats;

static void probe_videos(video_stats *vs, const dfd_dataset *ds)
{
    memset(vs, 0, sizeof *vs);
    vs->dur_min = vs->fps_min = INFINITY;
    vs->w_min = vs->h_min = 1 << 30;
    dfd_video_opts vo = dfd_video_opts_default();
    vo.scan = false; // headers only
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->items[i].kind != DFD_MEDIA_VIDEO) {
            continue;
        }
        dfd_video *v;
        dfd_error err;
        if (dfd_video_open(&v, ds->items[i].path, &vo, &err) != DFD_OK) {
            if (vs->failed++ == 0) {
                snprintf(vs->first_error, sizeof vs->first_error, "%s", err.msg);
            }
            continue;
        }
        dfd_video_info in;
        dfd_video_probe(&in, v);
        dfd_video_close(v);
        vs->probed++;
        vs->dur_sum += in.duration_s;
        vs->dur_min = fmin(vs->dur_min, in.duration_s);
        vs->dur_max = fmax(vs->dur_max, in.duration_s);
        vs->fps_min = fmin(vs->fps_min, in.fps);
        vs->fps_max = fmax(vs->fps_max, in.fps);
        vs->w_min = in.display_width < vs->w_min ? in.display_width : vs->w_min;
        vs->w_max = in.display_width > vs->w_max ? in.display_width : vs->w_max;
        vs->h_min = in.display_height < vs->h_min ? in.display_height : vs->h_min;
        vs->h_max = in.display_height > vs->h_max ? in.display_height : vs->h_max;
    }
}

static void add_range(cJSON *o, const char *name, double lo, double hi)
{
    cJSON *r = cJSON_AddObjectToObject(o, name);
    if (r) {
        cJSON_AddNumberToObject(r, "min", round(lo * 1000) / 1000);
        cJSON_AddNumberToObject(r, "max", round(hi * 1000) / 1000);
    }
}

static void stats_json(const dfd_dataset *ds, const dfd_dataset_summary *s, const video_stats *vs,
                       bool probed)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        return;
    }
    cJSON_AddStringToObject(root, "source", ds->source);
    cJSON_AddStringToObject(root, "format", dfd_dataset_format_name(ds->format));
    cJSON_AddNumberToObject(root, "items", (double)s->n);
    cJSON *l = cJSON_AddObjectToObject(root, "labels");
    cJSON *k = cJSON_AddObjectToObject(root, "kinds");
    for (int i = 0; l && k && i < 2; i++) {
        cJSON_AddNumberToObject(l, dfd_label_name((dfd_label)i), (double)s->n_label[i]);
        cJSON_AddNumberToObject(k, dfd_media_kind_name((dfd_media_kind)i), (double)s->n_kind[i]);
    }
    cJSON_AddNumberToObject(root, "groups", (double)s->n_groups);
    cJSON_AddNumberToObject(root, "groups_with_both_labels", (double)s->n_groups_mixed);
    cJSON_AddNumberToObject(root, "largest_group", (double)s->max_group);
    cJSON_AddNumberToObject(root, "fakes_naming_an_original", (double)s->n_fake_original);
    cJSON_AddNumberToObject(root, "originals_present", (double)s->n_original_found);
    if (s->methods) {
        cJSON *m = cJSON_AddObjectToObject(root, "methods");
        for (size_t i = 0; m && i < s->n_methods; i++) {
            cJSON_AddNumberToObject(m, s->methods[i].name, (double)s->methods[i].n);
        }
    }
    if (probed && s->n_kind[DFD_MEDIA_VIDEO]) {
        cJSON *v = cJSON_AddObjectToObject(root, "videos");
        if (v) {
            cJSON_AddNumberToObject(v, "probed", (double)vs->probed);
            cJSON_AddNumberToObject(v, "failed", (double)vs->failed);
            if (vs->failed) {
                cJSON_AddStringToObject(v, "first_error", vs->first_error);
            }
            if (vs->probed) {
                cJSON_AddNumberToObject(v, "duration_s_total", round(vs->dur_sum * 1000) / 1000);
                cJSON_AddNumberToObject(v, "duration_s_mean",
                                        round(vs->dur_sum / (double)vs->probed * 1000) / 1000);
                add_range(v, "duration_s", vs->dur_min, vs->dur_max);
                add_range(v, "width", vs->w_min, vs->w_max);
                add_range(v, "height", vs->h_min, vs->h_max);
                add_range(v, "fps", vs->fps_min, vs->fps_max);
            }
        }
    }
    char *text = cJSON_Print(root);
    if (text) {
        printf("%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(root);
}

static void stats_text(const dfd_dataset *ds, const dfd_dataset_summary *s, const video_stats *vs,
                       bool probed)
{
    printf("dataset    %s (%s)\n", ds->source, dfd_dataset_format_name(ds->format));
    printf("items      %zu: %zu REAL, %zu FAKE (%.1f%% fake)\n", s->n, s->n_label[0], s->n_label[1],
           100.0 * (double)s->n_label[1] / (double)s->n);
    printf("kinds      %zu videos, %zu images\n", s->n_kind[0], s->n_kind[1]);
    printf("groups     %zu (%zu with both labels, largest %zu items)\n", s->n_groups,
           s->n_groups_mixed, s->max_group);
    if (ds->has_original) {
        printf("originals  %zu fakes name one, %zu of them in the dataset\n", s->n_fake_original,
               s->n_original_found);
    }
    if (s->methods) {
        printf("methods   ");
        for (size_t i = 0; i < s->n_methods; i++) {
            printf(" %s %zu%s", s->methods[i].name, s->methods[i].n,
                   i + 1 < s->n_methods ? "," : "\n");
        }
    }
    if (probed && s->n_kind[DFD_MEDIA_VIDEO]) {
        if (vs->probed) {
            printf("videos     %.1f s each on average (%.1f to %.1f s, %.1f min in all), "
                   "widths %d..%d, heights %d..%d, %.4g to %.4g fps\n",
                   vs->dur_sum / (double)vs->probed, vs->dur_min, vs->dur_max, vs->dur_sum / 60,
                   vs->w_min, vs->w_max, vs->h_min, vs->h_max, vs->fps_min, vs->fps_max);
        }
        if (vs->failed) {
            printf("unreadable %zu videos (first: %s)\n", vs->failed, vs->first_error);
        }
    }
}

// Labels per method (or per media kind when there is no method column), stacked REAL / FAKE.
static int stats_chart(const char *path, const dfd_dataset *ds, const dfd_dataset_summary *s)
{
    size_t n_cat = s->methods ? s->n_methods : 2;
    if (n_cat > DFD_CHART_MAX_CATEGORIES) {
        n_cat = DFD_CHART_MAX_CATEGORIES; // the most frequent ones
    }
    const char **names = dfd_calloc(n_cat, sizeof *names);
    double *counts = dfd_calloc(2 * n_cat, sizeof *counts);
    if (!names || !counts) {
        dfd_free(names);
        dfd_free(counts);
        cli_error("out of memory");
        return CLI_FAILED;
    }
    for (size_t c = 0; c < n_cat; c++) {
        names[c] = s->methods ? s->methods[c].name : c == 0 ? "videos" : "images";
    }
    for (size_t i = 0; i < ds->n; i++) {
        const dfd_dataset_item *it = &ds->items[i];
        const char *m = it->method ? it->method : "(none)";
        for (size_t c = 0; c < n_cat; c++) {
            if (s->methods ? strcmp(names[c], m) == 0 : (size_t)it->kind == c) {
                counts[it->label * n_cat + c] += 1;
                break;
            }
        }
    }
    static const uint8_t green[3] = { 44, 160, 44 }, red[3] = { 214, 39, 40 };
    const dfd_bar_series series[2] = { { "REAL", counts, green }, { "FAKE", counts + n_cat, red } };
    dfd_bar_chart chart = { .categories = names,
                            .n_categories = n_cat,
                            .series = series,
                            .n_series = 2,
                            .stacked = true,
                            .show_values = true };
    char title[160];
    snprintf(title, sizeof title, "Labels: %zu items, %zu REAL, %zu FAKE", s->n, s->n_label[0],
             s->n_label[1]);
    dfd_chart_opts o = dfd_chart_opts_default();
    o.title = title;
    o.x_label = s->methods ? "method" : "kind";
    o.y_label = "items";
    if (n_cat > 6) {
        o.width = 640 + 80 * (int)(n_cat - 6 < 40 ? n_cat - 6 : 40);
    }
    dfd_error err;
    dfd_status st = dfd_chart_bar_png(path, &chart, &o, &err);
    dfd_free(names);
    dfd_free(counts);
    return st ? cli_fail(&err) : CLI_OK;
}

static int run_stats(int argc, char **argv)
{
    bool json = false, no_probe = false;
    const char *chart = NULL, *group_by = NULL;
    const cli_opt opts[] = {
        { "json", CLI_FLAG, &json, 0, 0 },
        { "chart", CLI_STRING, &chart, 0, 0 },
        { "group-by", CLI_STRING, &group_by, 0, 0 },
        { "no-probe", CLI_FLAG, &no_probe, 0, 0 },
    };
    const char *path;
    int rc = parse_sub(&sub_stats, argc, argv, opts, sizeof opts / sizeof opts[0], &path);
    if (rc || !path) {
        return rc;
    }
    dfd_dataset ds;
    rc = load_dataset(&ds, path, group_by);
    if (rc) {
        return rc;
    }
    dfd_dataset_summary s;
    if (dfd_dataset_summarize(&s, &ds) != DFD_OK) {
        dfd_dataset_free(&ds);
        cli_error("out of memory");
        return CLI_FAILED;
    }
    video_stats vs;
    memset(&vs, 0, sizeof vs);
    if (!no_probe) {
        probe_videos(&vs, &ds);
    }
    if (json) {
        stats_json(&ds, &s, &vs, !no_probe);
    } else {
        stats_text(&ds, &s, &vs, !no_probe);
    }
    if (chart) {
        rc = stats_chart(chart, &ds, &s);
        if (!rc && !json) {
            printf("chart      %s\n", chart);
        }
    }
    dfd_dataset_summary_free(&s);
    dfd_dataset_free(&ds);
    return rc;
}

// ---- grid ----

// The middle frame of a video, or an image as it is.
static dfd_status middle_frame(dfd_image *out, const dfd_dataset_item *it, dfd_error *err)
{
    if (it->kind == DFD_MEDIA_IMAGE) {
        return dfd_image_read(out, it->path, err);
    }
    dfd_video *v;
    dfd_status st = dfd_video_open(&v, it->path, NULL, err);
    if (st) {
        return st;
    }
    dfd_frame_set set;
    const dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 8 };
    st = dfd_video_sample(&set, v, &pol, 1, NULL, NULL, err);
    dfd_video_close(v);
    if (st) {
        return st;
    }
    *out = set.frames[0].image; // keep the pixels, free the rest
    set.frames[0].image = (dfd_image){ 0 };
    dfd_frame_set_free(&set);
    return DFD_OK;
}

// |a - b| x 4, clamped (a and b the same size).
static dfd_status difference(dfd_image *out, const dfd_image *a, const dfd_image *b)
{
    dfd_status st = dfd_image_alloc(out, a->w, a->h, 3);
    for (int y = 0; !st && y < a->h; y++) {
        const uint8_t *pa = dfd_image_px(a, 0, y), *pb = dfd_image_px(b, 0, y);
        uint8_t *po = dfd_image_px(out, 0, y);
        for (int x = 0; x < a->w * 3; x++) {
            int d = 4 * abs(pa[x] - pb[x]);
            po[x] = (uint8_t)(d > 255 ? 255 : d);
        }
    }
    return st;
}

static uint64_t next_rand(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Item indices of one label (or of fakes with their original present), shuffled with the seed.
static size_t pick(size_t *out, const dfd_dataset *ds, int want, uint64_t *rng)
{
    size_t n = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const dfd_dataset_item *it = &ds->items[i];
        bool take = want == 2 ? it->label == DFD_LABEL_FAKE && it->i_original != DFD_NO_ITEM
                              : (int)it->label == want;
        if (take) {
            out[n++] = i;
        }
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_rand(rng) % i);
        size_t t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
    return n;
}

static char *tile_label(const dfd_dataset_item *it)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s %s%s%s%s", dfd_label_name(it->label), it->file,
             it->method ? " (" : "", it->method ? it->method : "", it->method ? ")" : "");
    return dfd_strdup(buf);
}

static int run_grid(int argc, char **argv)
{
    int n_rows = 4, seed = 1, tile = 320;
    const char *out = NULL, *group_by = NULL;
    const cli_opt opts[] = {
        { "out", CLI_STRING, &out, 0, 0 },           { "n", CLI_INT, &n_rows, 1, 64 },
        { "seed", CLI_INT, &seed, 0, 1 << 30 },      { "tile", CLI_INT, &tile, 32, 2048 },
        { "group-by", CLI_STRING, &group_by, 0, 0 },
    };
    const char *path;
    int rc = parse_sub(&sub_grid, argc, argv, opts, sizeof opts / sizeof opts[0], &path);
    if (rc || !path) {
        return rc;
    }
    if (!out) {
        cli_error("dataset grid: --out FILE.png is required");
        return CLI_USAGE;
    }
    dfd_dataset ds;
    rc = load_dataset(&ds, path, group_by);
    if (rc) {
        return rc;
    }
    size_t *pairs = dfd_malloc(ds.n * sizeof *pairs), *fakes = dfd_malloc(ds.n * sizeof *fakes);
    size_t *reals = dfd_malloc(ds.n * sizeof *reals);
    dfd_image *tiles = dfd_calloc((size_t)n_rows * 3, sizeof *tiles);
    char **labels = dfd_calloc((size_t)n_rows * 3, sizeof *labels);
    if (!pairs || !fakes || !reals || !tiles || !labels) {
        cli_error("out of memory");
        rc = CLI_FAILED;
        goto done;
    }
    uint64_t rng = (uint64_t)seed;
    size_t n_pairs = pick(pairs, &ds, 2, &rng), n_fakes = pick(fakes, &ds, DFD_LABEL_FAKE, &rng);
    size_t n_reals = pick(reals, &ds, DFD_LABEL_REAL, &rng);
    if (n_fakes == 0 || n_reals == 0) {
        cli_error("%s: the grid needs both REAL and FAKE items", ds.source);
        rc = CLI_FAILED;
        goto done;
    }
    // Rows: fake | original (or a real) | difference (pairs of one size only).
    const int cols = n_pairs ? 3 : 2;
    size_t n_tiles = 0;
    for (int r = 0; r < n_rows; r++) {
        bool paired = (size_t)r < n_pairs;
        const dfd_dataset_item *f = &ds.items[paired ? pairs[r] : fakes[(size_t)r % n_fakes]];
        const dfd_dataset_item *g = &ds.items[paired ? f->i_original : reals[(size_t)r % n_reals]];
        dfd_error err;
        if (middle_frame(&tiles[n_tiles], f, &err) || middle_frame(&tiles[n_tiles + 1], g, &err)) {
            rc = cli_fail(&err);
            goto done;
        }
        labels[n_tiles] = tile_label(f);
        labels[n_tiles + 1] = tile_label(g);
        if (cols == 3) {
            const dfd_image *a = &tiles[n_tiles], *b = &tiles[n_tiles + 1];
            bool same = paired && a->w == b->w && a->h == b->h;
            dfd_status st = same ? difference(&tiles[n_tiles + 2], a, b)
                                 : dfd_image_alloc(&tiles[n_tiles + 2], a->w, a->h, 3);
            if (st) {
                cli_error("out of memory");
                rc = CLI_FAILED;
                goto done;
            }
            labels[n_tiles + 2] = dfd_strdup(same     ? "difference x4"
                                             : paired ? "(sizes differ)"
                                                      : "(not a pair)");
        }
        n_tiles += (size_t)cols;
    }
    dfd_grid_opts go = dfd_grid_opts_default();
    go.cols = cols;
    go.tile_width = tile;
    // Titled with the dataset folder's name (the full path rarely fits).
    const char *name = strrchr(ds.root, '/');
    name = name && name[1] ? name + 1 : ds.root;
    char title[600];
    snprintf(title, sizeof title, "%s: %s", name,
             n_pairs ? "fake | original | difference" : "fake | real");
    go.title = title;
    dfd_image sheet = { 0 };
    dfd_error err;
    if (dfd_grid_render(&sheet, tiles, (const char *const *)labels, n_tiles, &go) != DFD_OK) {
        cli_error("%s: cannot lay out the grid", out);
        rc = CLI_FAILED;
    } else if (dfd_png_write(out, &sheet, &err) != DFD_OK) {
        rc = cli_fail(&err);
    } else {
        printf("%s: %d rows (%zu fake/original pairs in the dataset)\n", out, n_rows, n_pairs);
    }
    dfd_image_free(&sheet);
done:
    for (size_t i = 0; tiles && labels && i < (size_t)n_rows * 3; i++) {
        dfd_image_free(&tiles[i]);
        dfd_free(labels[i]);
    }
    dfd_free(tiles);
    dfd_free(labels);
    dfd_free(pairs);
    dfd_free(fakes);
    dfd_free(reals);
    dfd_dataset_free(&ds);
    return rc;
}

// ---- cache ----

static int run_cache(int argc, char **argv)
{
    bool json = false;
    int jobs = 0, frames = 32, size = 224;
    const char *cache = NULL, *sampling = "bursts", *images = "auto";
    const char *models = NULL, *group_by = NULL;
    const cli_opt opts[] = {
        { "cache", CLI_STRING, &cache, 0, 0 },       { "jobs", CLI_INT, &jobs, 1, 256 },
        { "frames", CLI_INT, &frames, 1, 1000 },     { "size", CLI_INT, &size, 16, 2048 },
        { "sampling", CLI_STRING, &sampling, 0, 0 }, { "images", CLI_STRING, &images, 0, 0 },
        { "models", CLI_STRING, &models, 0, 0 },     { "json", CLI_FLAG, &json, 0, 0 },
        { "group-by", CLI_STRING, &group_by, 0, 0 },
    };
    const char *path;
    int rc = parse_sub(&sub_cache, argc, argv, opts, sizeof opts / sizeof opts[0], &path);
    if (rc || !path) {
        return rc;
    }
    dfd_face_cache_opts co = dfd_face_cache_opts_default();
    co.frames = frames;
    co.face.crop_size = size;
    co.models_dir = models;
    if (dfd_sampling_parse(&co.sampling.kind, sampling) != DFD_OK) {
        cli_error("dataset cache: unknown sampling policy '%s' (use uniform or bursts)", sampling);
        return CLI_USAGE;
    }
    if (!dfd_image_faces_parse(&co.image_faces, images)) {
        cli_error(
            "dataset cache: --images must be detect_or_whole, detect, whole or auto, not '%s'",
            images);
        return CLI_USAGE;
    }
    char dir[4096];
    if (cache) {
        snprintf(dir, sizeof dir, "%s", cache);
    } else {
        dfd_face_cache_dir_default(dir, sizeof dir);
    }
    dfd_dataset ds;
    rc = load_dataset(&ds, path, group_by);
    if (rc) {
        return rc;
    }
    jobs = cli_jobs(jobs, ds.n);
    co.face.n_threads = cli_threads_per_job(jobs);
    co.face.detector.n_threads = co.face.n_threads;
    dfd_face_cache *c = NULL;
    const char **paths = dfd_malloc(ds.n * sizeof *paths);
    dfd_status *status = dfd_malloc(ds.n * sizeof *status);
    dfd_error *errors = dfd_malloc(ds.n * sizeof *errors);
    dfd_error err;
    if (!paths || !status || !errors) {
        cli_error("out of memory");
        rc = CLI_FAILED;
        goto done;
    }
    if (dfd_face_cache_open(&c, dir, &co, &err) != DFD_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    for (size_t i = 0; i < ds.n; i++) {
        paths[i] = ds.items[i].path;
    }
    dfd_progress bar;
    dfd_progress_begin(&bar, stderr, "items", ds.n, cli_show_progress(json));
    double t0 = dfd_now();
    dfd_status st = dfd_face_cache_fill(c, paths, ds.n, jobs, status, errors, dfd_progress_callback,
                                        &bar, &err);
    double t_fill = dfd_now() - t0;
    dfd_progress_end(&bar);
    if (st) {
        rc = cli_fail(&err);
        goto done;
    }
    dfd_face_cache_stats s1;
    dfd_face_cache_get_stats(&s1, c);
    size_t failed = 0;
    for (size_t i = 0; i < ds.n; i++) {
        if (status[i]) {
            failed++;
            if (!json) {
                printf("ERROR  %s\n", errors[i].msg);
            }
        }
    }
    // The load pass: every entry read back, one thread (what a training loop pays per epoch).
    size_t n_faces = 0, n_loaded = 0;
    t0 = dfd_now();
    for (size_t i = 0; i < ds.n; i++) {
        dfd_face_entry e;
        if (status[i] || dfd_face_cache_get(&e, c, paths[i], &err) != DFD_OK) {
            continue;
        }
        n_loaded++;
        for (size_t k = 0; k < e.n_ids; k++) {
            n_faces += e.ids[k].n;
        }
        dfd_face_entry_free(&e);
    }
    double t_load = dfd_now() - t0;
    dfd_face_cache_stats s2;
    dfd_face_cache_get_stats(&s2, c);
    const double mb = (double)(s2.bytes_loaded - s1.bytes_loaded) / 1e6;
    if (json) {
        cJSON *root = cJSON_CreateObject();
        if (root) {
            cJSON_AddStringToObject(root, "cache", dir);
            cJSON_AddNumberToObject(root, "items", (double)ds.n);
            cJSON_AddNumberToObject(root, "built", (double)s1.misses);
            cJSON_AddNumberToObject(root, "already_cached", (double)s1.hits);
            cJSON_AddNumberToObject(root, "failed", (double)failed);
            cJSON_AddNumberToObject(root, "fill_seconds", round(t_fill * 1000) / 1000);
            cJSON_AddNumberToObject(root, "hash_seconds", round(s1.seconds_hash * 1000) / 1000);
            cJSON_AddNumberToObject(root, "load_seconds", round(t_load * 1e4) / 1e4);
            cJSON_AddNumberToObject(root, "load_faces", (double)n_faces);
            cJSON_AddNumberToObject(root, "load_megabytes", round(mb * 10) / 10);
            char *text = cJSON_Print(root);
            if (text) {
                printf("%s\n", text);
                cJSON_free(text);
            }
            cJSON_Delete(root);
        }
    } else {
        printf("cache      %s\n", dir);
        printf("fill       %zu items in %.2f s: %zu built, %zu already cached, %zu failed "
               "(hashing %.2f s)\n",
               ds.n, t_fill, s1.misses, s1.hits, failed, s1.seconds_hash);
        printf("load       %zu entries, %zu faces, %.1f MB in %.3f s: %.2f ms per entry, "
               "%.0f MB/s\n",
               n_loaded, n_faces, mb, t_load, n_loaded ? 1e3 * t_load / (double)n_loaded : 0.0,
               t_load > 0 ? mb / t_load : 0.0);
    }
    rc = failed ? CLI_FAILED : CLI_OK;
done:
    dfd_face_cache_close(c);
    dfd_free(paths);
    dfd_free(status);
    dfd_free(errors);
    dfd_dataset_free(&ds);
    return rc;
}

// ---- the command ----

static int run_dataset(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(dataset_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "stats") == 0) {
        return run_stats(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "grid") == 0) {
        return run_grid(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "cache") == 0) {
        return run_cache(argc - 1, argv + 1);
    }
    cli_error("dataset: unknown command '%s' (stats, grid or cache)", argv[1]);
    return CLI_USAGE;
}

const cli_command cli_dataset = { .name = "dataset",
                                  .summary = "count, show and face-cache a labelled dataset",
                                  .help = dataset_help,
                                  .run = run_dataset };
