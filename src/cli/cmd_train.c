// dfdetect train: train the detector's head on frozen backbone embeddings of a labelled dataset
// (train/head_train.h) and write a model file `dfdetect scan --model` reads.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/data/dataset.h"
#include "dfdetect/train/head_train.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/progress.h"

static const char train_help[] =
    "usage: dfdetect train --data D [--data D2 ...] --out MODEL [options]\n"
    "\n"
    "Train the detector's temporal head on faceres embeddings of the dataset D (a DFDC\n"
    "folder with metadata.json, a labels CSV, or real/ + fake/ folders; repeat --data to train on\n"
    "several as one). Faces come from the face cache (built on first use). The split is grouped\n"
    "by source and stratified by label; training stops early when the validation loss after\n"
    "temperature scaling has not improved for --patience epochs, and the best epoch's weights\n"
    "are kept, calibrated (temperature) on the validation split and written to\n"
    "MODEL, with MODEL.metrics.csv (per epoch), MODEL.curves.png (loss and AUC curves) and\n"
    "MODEL.ckpt (the head training's state, for --resume).\n"
    "\n"
    "options:\n"
    "  --data D          a dataset (required; repeat for several)\n"
    "  --out MODEL       the model file to write (required)\n"
    "  --arch A          gru (default), lstm or bilstm\n"
    "  --frames N        frames per video (32)\n"
    "  --sampling P      which frames: bursts (runs of 8 consecutive frames from spread\n"
    "                    keyframes, the default) or uniform (evenly in time)\n"
    "  --margin X        face crop side / face size, 1 < X < 4 (1.3)\n"
    "  --images MODE     how images become faces: auto (default: whole when the image is a\n"
    "                    face crop: no face found, or its face spans half its width or more;\n"
    "                    else the face stage), detect_or_whole (the face stage, else the whole\n"
    "                    image), detect, or whole (the images are face crops already);\n"
    "                    recorded in MODEL, so scan treats images the same way\n"
    "  --epochs N        most epochs (150)\n"
    "  --batch N         sequences per update (512)\n"
    "  --lr X            AdamW learning rate (1e-3)\n"
    "  --weight-decay X  AdamW decoupled weight decay (1e-2)\n"
    "  --dropout X       the head's dropout, 0 <= X < 1 (0.3)\n"
    "  --input-dropout X dropout on the embeddings entering the head, 0 <= X < 1 (0.2)\n"
    "  --balance X       with several --data: repeat the items of the smaller datasets in each\n"
    "                    epoch, (largest / own size) ^ X times (0: none, the default; 1: every\n"
    "                    dataset weighs the same)\n"
    "  --val-split X     validation share, 0 < X < 1 (0.2)\n"
    "  --patience N      early-stopping patience in epochs (15)\n"
    "  --seed N          seed of the split, weights and shuffling (1)\n"
    "  --name NAME       the model's name, shown by scan and eval (dfdetect-head-ARCH)\n"
    "  --model-version V its version (1)\n"
    "  --cv-folds K      cross-validation: hold out one fold of a grouped K-fold split of the\n"
    "                    data (never trained or validated on; `dfdetect eval --holdout` scores "
    "it)\n"
    "  --cv-fold F       the fold to hold out, 0..K-1 (0)\n";

static const char train_help_more[] =
    "  --backbone-epochs N  stage 1 first: fine-tune the faceres backbone on the training\n"
    "                    split's face crops for at most N epochs (a linear frame classifier,\n"
    "                    early stopping on the validation loss), embed with it and store its\n"
    "                    tuned weights in MODEL (0: frozen pretrained backbone, the default)\n"
    "  --backbone-lr X   stage-1 AdamW learning rate of the backbone (1e-4; the classifier's\n"
    "                    is 10 x)\n"
    "  --tune-layers N   stage 1 trains the last N layers with weights (4: the last two\n"
    "                    depthwise-separable blocks); the others stay frozen\n"
    "  --probe-steps N   stage 1 first fits its frame classifier on the frozen backbone's\n"
    "                    features (N full-batch steps at most, the best on validation kept),\n"
    "                    then tunes; an untuned backbone that tuning never beats is kept\n"
    "                    (0, the default: classifier and backbone learn together)\n"
    "  --augment on|off  stage-1 augmentation of the crops: flip, rotation, scale and shift,\n"
    "                    colour, blur, noise, JPEG and H.264 (on)\n"
    "  --cache DIR       face cache folder (default: $DFD_CACHE or ~/.cache/dfdetect/faces)\n"
    "  --models DIR      pretrained models folder\n"
    "  --threads N       threads (default: one per CPU; 1 makes the model file reproducible)\n"
    "  --resume          continue from MODEL.ckpt, the checkpoint every run writes (every 30 s\n"
    "                    and after its last epoch; none with --backbone-epochs): an interrupted\n"
    "                    run goes on as if it had not stopped, a finished one trains on to a\n"
    "                    larger --epochs; the other settings must be the same\n"
    "  --json            print the result as JSON\n"
    "\n"
    "exit status: 0 trained, 1 failed (data, models, files), 2 usage error\n";

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= lo || v >= hi) {
        return false;
    }
    *out = v;
    return true;
}

// An optional number option: unset (NULL) leaves *out alone; otherwise it must parse and lie
// strictly between lo and hi, or the one-line error names the option and its range.
static bool float_opt(float *out, const char *s, const char *name, double lo, double hi,
                      const char *range)
{
    double v;
    if (!s) {
        return true;
    }
    if (!parse_num(s, lo, hi, &v)) {
        cli_error("train: --%s wants a number %s, not '%s'", name, range, s);
        return false;
    }
    *out = (float)v;
    return true;
}

typedef struct train_progress {
    bool on;
    const char *stage;
    dfd_progress bar;
} train_progress;

static void on_progress(void *ctx, const char *stage, size_t done, size_t total)
{
    train_progress *p = ctx;
    if (!p->on) {
        return;
    }
    if (p->stage != stage) {
        if (p->stage) {
            dfd_progress_end(&p->bar);
        }
        dfd_progress_begin(&p->bar, stderr, stage, total, true);
        p->stage = stage;
    }
    dfd_progress_update(&p->bar, done);
}

static void print_result(const dfd_head_train_result *r, const char *out, bool json)
{
    const dfd_backbone_train_result *b = &r->stage1;
    if (!json && b->probe_best_step > 0) {
        printf("stage 1 (linear probe on the frozen backbone): step %d of the probe, frame val "
               "loss %.4f, frame AUC %.4f\n",
               b->probe_best_step, b->probe_val_loss, b->probe_val_auc);
    }
    if (!json && b->epochs_run > 0) {
        printf("stage 1 (backbone): %zu train, %zu validation items, %zu tuned tensors, %d "
               "epochs, best %d: frame val loss %.4f, frame AUC %.4f, %.1f s per epoch\n",
               b->n_train, b->n_val, b->n_tuned, b->epochs_run, b->best_epoch, b->best.val_loss,
               b->best.val_auc, b->history[0].seconds);
    }
    if (!json) {
        printf("trained %s: %zu train, %zu validation items (%zu skipped), %d epochs, best %d: "
               "val loss %.4f, AUC %.4f, accuracy %.4f, temperature %.3f\n",
               out, r->n_train, r->n_val, r->n_skipped, r->epochs_run, r->best_epoch,
               r->best.val_loss, r->best.val_auc, r->best.val_accuracy, (double)r->temperature);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", out);
    if (b->epochs_run == 0) { // runs with stage 1 write no checkpoint
        char ckpt[4200];
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", out);
        cJSON_AddStringToObject(o, "checkpoint", ckpt);
    }
    cJSON_AddNumberToObject(o, "n_train", (double)r->n_train);
    cJSON_AddNumberToObject(o, "n_val", (double)r->n_val);
    cJSON_AddNumberToObject(o, "n_skipped", (double)r->n_skipped);
    cJSON_AddNumberToObject(o, "epochs", r->epochs_run);
    cJSON_AddNumberToObject(o, "best_epoch", r->best_epoch);
    cJSON_AddNumberToObject(o, "val_loss", r->best.val_loss);
    if (isfinite(r->best.val_auc)) {
        cJSON_AddNumberToObject(o, "val_auc", r->best.val_auc);
    } else {
        cJSON_AddNullToObject(o, "val_auc");
    }
    cJSON_AddNumberToObject(o, "val_accuracy", r->best.val_accuracy);
    cJSON_AddNumberToObject(o, "temperature", (double)r->temperature);
    cJSON_AddNumberToObject(o, "frame_temperature", (double)r->frame_temperature);
    if (b->epochs_run > 0) {
        cJSON *s1 = cJSON_AddArrayToObject(o, "backbone_epochs");
        for (int i = 0; s1 && i < b->epochs_run; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "epoch", b->history[i].epoch);
            cJSON_AddNumberToObject(e, "train_loss", b->history[i].train_loss);
            cJSON_AddNumberToObject(e, "val_loss", b->history[i].val_loss);
            cJSON_AddNumberToObject(e, "val_auc",
                                    isfinite(b->history[i].val_auc) ? b->history[i].val_auc : 0.5);
            cJSON_AddNumberToObject(e, "seconds", b->history[i].seconds);
            cJSON_AddItemToArray(s1, e);
        }
        cJSON_AddNumberToObject(o, "backbone_best_epoch", b->best_epoch);
        if (b->probe_best_step > 0) {
            cJSON_AddNumberToObject(o, "probe_best_step", b->probe_best_step);
            cJSON_AddNumberToObject(o, "probe_val_loss", b->probe_val_loss);
            cJSON_AddNumberToObject(o, "probe_val_auc",
                                    isfinite(b->probe_val_auc) ? b->probe_val_auc : 0.5);
        }
    }
    char *s = cJSON_Print(o);
    if (s) {
        printf("%s\n", s);
    }
    cJSON_free(s);
    cJSON_Delete(o);
}

static int run_train(int argc, char **argv)
{
    bool json = false, help = false;
    cli_strings data = { .n = 0 };
    const char *out = NULL, *lr_s = NULL, *val_s = NULL, *seed_s = NULL, *blr_s = NULL,
               *aug_s = NULL, *sampling_s = NULL, *images_s = NULL, *margin_s = NULL, *wd_s = NULL,
               *drop_s = NULL, *idrop_s = NULL, *bal_s = NULL;
    dfd_head_train_opts o = dfd_head_train_opts_default();
    const cli_opt opts[] = {
        { "data", CLI_STRINGS, &data, 0, 0 },
        { "out", CLI_STRING, &out, 0, 0 },
        { "name", CLI_STRING, &o.name, 0, 0 },
        { "model-version", CLI_STRING, &o.version, 0, 0 },
        { "arch", CLI_STRING, &o.arch, 0, 0 },
        { "frames", CLI_INT, &o.frames, 1, 1024 },
        { "sampling", CLI_STRING, &sampling_s, 0, 0 },
        { "images", CLI_STRING, &images_s, 0, 0 },
        { "margin", CLI_STRING, &margin_s, 0, 0 },
        { "epochs", CLI_INT, &o.epochs, 1, 100000 },
        { "batch", CLI_INT, &o.batch, 1, 4096 },
        { "lr", CLI_STRING, &lr_s, 0, 0 },
        { "weight-decay", CLI_STRING, &wd_s, 0, 0 },
        { "dropout", CLI_STRING, &drop_s, 0, 0 },
        { "input-dropout", CLI_STRING, &idrop_s, 0, 0 },
        { "balance", CLI_STRING, &bal_s, 0, 0 },
        { "val-split", CLI_STRING, &val_s, 0, 0 },
        { "patience", CLI_INT, &o.patience, 1, 100000 },
        { "seed", CLI_STRING, &seed_s, 0, 0 },
        { "cv-folds", CLI_INT, &o.cv_folds, 2, 1000 },
        { "cv-fold", CLI_INT, &o.cv_fold, 0, 999 },
        { "backbone-epochs", CLI_INT, &o.backbone_epochs, 0, 100000 },
        { "backbone-lr", CLI_STRING, &blr_s, 0, 0 },
        { "tune-layers", CLI_INT, &o.tune_layers, 1, 1000 },
        { "probe-steps", CLI_INT, &o.probe_steps, 0, 100000 },
        { "augment", CLI_STRING, &aug_s, 0, 0 },
        { "cache", CLI_STRING, &o.cache_dir, 0, 0 },
        { "models", CLI_STRING, &o.models_dir, 0, 0 },
        { "threads", CLI_INT, &o.n_threads, 0, 256 },
        { "resume", CLI_FLAG, &o.resume, 0, 0 },
        { "json", CLI_FLAG, &json, 0, 0 },
    };
    const char *pos[1];
    size_t n_pos = 0;
    int rc = cli_parse(&cli_train, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 0, &n_pos,
                       &help);
    if (rc || help) {
        return rc;
    }
    if (!data.n || !out) {
        cli_error("train: --data D and --out MODEL are required (see dfdetect train --help)");
        return CLI_USAGE;
    }
    if (!float_opt(&o.lr, lr_s, "lr", 0, 10, "in (0, 10)")) {
        return CLI_USAGE;
    }
    if (!float_opt(&o.backbone_lr, blr_s, "backbone-lr", 0, 10, "in (0, 10)")) {
        return CLI_USAGE;
    }
    if (sampling_s && dfd_sampling_parse(&o.sampling, sampling_s) != DFD_OK) {
        cli_error("train: --sampling wants bursts or uniform, not '%s'", sampling_s);
        return CLI_USAGE;
    }
    if (!float_opt(&o.weight_decay, wd_s, "weight-decay", -1e-30, 1e6, ">= 0")) {
        return CLI_USAGE;
    }
    if (!float_opt(&o.dropout, drop_s, "dropout", -1e-30, 1, "in [0, 1)")) {
        return CLI_USAGE;
    }
    if (!float_opt(&o.input_dropout, idrop_s, "input-dropout", -1e-30, 1, "in [0, 1)")) {
        return CLI_USAGE;
    }
    if (!float_opt(&o.balance, bal_s, "balance", -1e-30, 4.000001, "from 0 to 4")) {
        return CLI_USAGE;
    }
    if (!float_opt(&o.margin, margin_s, "margin", 1, 4, "in (1, 4)")) {
        return CLI_USAGE;
    }
    if (images_s && !dfd_image_faces_parse(&o.images, images_s)) {
        cli_error("train: --images wants detect_or_whole, detect, whole or auto, not '%s'",
                  images_s);
        return CLI_USAGE;
    }
    if (aug_s && strcmp(aug_s, "on") && strcmp(aug_s, "off")) {
        cli_error("train: --augment wants on or off, not '%s'", aug_s);
        return CLI_USAGE;
    }
    o.augment = !aug_s || strcmp(aug_s, "on") == 0;
    if (val_s && !parse_num(val_s, 0, 1, &o.val_split)) {
        cli_error("train: --val-split wants a number in (0, 1), not '%s'", val_s);
        return CLI_USAGE;
    }
    if ((o.name && (!o.name[0] || strlen(o.name) > 63)) ||
        (o.version && (!o.version[0] || strlen(o.version) > 31))) {
        cli_error("train: --name wants 1 to 63 bytes and --model-version 1 to 31");
        return CLI_USAGE;
    }
    if (seed_s) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(seed_s, &end, 10);
        if (errno || end == seed_s || *end || seed_s[0] == '-') {
            cli_error("train: --seed wants a non-negative integer, not '%s'", seed_s);
            return CLI_USAGE;
        }
        o.seed = s;
    }
    if (strcmp(o.arch, "gru") && strcmp(o.arch, "lstm") && strcmp(o.arch, "bilstm") &&
        strcmp(o.arch, "bigru")) {
        cli_error("train: --arch wants gru, lstm or bilstm, not '%s'", o.arch);
        return CLI_USAGE;
    }
    train_progress tp = { .on = cli_show_progress(json) };
    o.progress = on_progress;
    o.progress_ctx = &tp;
    if (o.cv_fold >= (o.cv_folds ? o.cv_folds : 1)) {
        cli_error("train: --cv-fold %d needs --cv-folds above it", o.cv_fold);
        return CLI_USAGE;
    }
    o.data_paths = data.v;
    o.n_data_paths = data.n;
    dfd_error err;
    dfd_dataset ds;
    if (cli_load_datasets(&ds, data.v, data.n, &err)) {
        return cli_fail(&err);
    }
    dfd_head_train_result r;
    dfd_status st = dfd_head_train(&r, &ds, out, &o, &err);
    if (tp.stage) {
        dfd_progress_end(&tp.bar);
    }
    if (st) {
        rc = cli_fail(&err);
    } else {
        print_result(&r, out, json);
    }
    dfd_head_train_result_free(&r);
    dfd_dataset_free(&ds);
    return rc;
}

const cli_command cli_train = {
    .name = "train",
    .summary = "train a detector model on a labelled dataset",
    .help = train_help,
    .help_more = train_help_more,
    .run = run_train,
};
