// dfdetect serve: the HTTP API and web page (src/server) on the detector, the models loaded once;
// prints "listening on http://HOST:PORT" as its first stdout line and runs until SIGINT/SIGTERM.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "dfdetect/server/server.h"
#include "scan_pool.h"

static const char serve_help[] =
    "usage: dfdetect serve [--listen 127.0.0.1:8080] [--data-dir DIR] [--workers N]\n"
    "                      [--max-upload 250M] [--max-duration 600s] [--max-queue N]\n"
    "                      [--token TOKEN] [--model FILE] [--models DIR]\n"
    "\n"
    "Serve the detector over HTTP: upload a video or image (POST /api/v1/scans), follow its\n"
    "progress and read the verdict with the same JSON as `dfdetect scan --json`, the face\n"
    "crops under their Grad-CAM heatmaps, and the history of past scans; the web page at /\n"
    "does all of it in a browser. The API is described in docs/openapi.yaml. Jobs and results\n"
    "persist in DIR/jobs.db: after a crash, a restart on the same DIR runs every unfinished\n"
    "job again. The first line on stdout is `listening on http://HOST:PORT`.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0: any free\n"
    "                      port, printed on the first line)\n"
    "  --data-dir DIR      uploads, results and the job database (default ./dfdetect-data)\n"
    "  --workers N         scans run at once, each on its own scanner (default 1)\n"
    "  --max-upload SIZE   largest accepted file, bytes with an optional K, M or G suffix\n"
    "                      (powers of 1024; default 250M): larger uploads get 413\n"
    "  --max-duration T    longest accepted video, seconds with an optional s, m or h suffix\n"
    "                      (default 600s; 0: no limit): longer ones get 413\n"
    "  --max-queue N       jobs that may wait (default 64): uploads beyond get 503 with\n"
    "                      Retry-After\n"
    "  --token TOKEN       require \"Authorization: Bearer TOKEN\" on /api/ (401 without)\n"
    "  --model FILE        the detector (default: as for `dfdetect scan`)\n"
    "  --models DIR        the face and backbone models (default: as for `dfdetect scan`)\n"
    "  --help              this text\n"
    "\n"
    "SIGINT or SIGTERM stops it: no new requests, running scans finish, queued ones wait for\n"
    "the next start.\n"
    "exit codes: 0 stopped by a signal, 1 could not start (one line on stderr), 2 usage error\n";

// "250M" -> bytes (suffixes K, M, G: powers of 1024). false when malformed or zero.
static bool parse_size(size_t *out, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double scale = 1;
    if (*end && !end[1]) {
        switch (*end) {
        case 'k':
        case 'K':
            scale = 1024.0;
            break;
        case 'm':
        case 'M':
            scale = 1024.0 * 1024.0;
            break;
        case 'g':
        case 'G':
            scale = 1024.0 * 1024.0 * 1024.0;
            break;
        default:
            return false;
        }
    } else if (*end) {
        return false;
    }
    v *= scale;
    if (end == s || !(v >= 1 && v < 1e15)) {
        return false;
    }
    *out = (size_t)v;
    return true;
}

// "600", "600s", "10m", "1h" -> seconds. false when malformed or negative.
static bool parse_seconds(double *out, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    double scale = 1;
    if (*end && !end[1]) {
        scale = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : -1;
    } else if (*end) {
        scale = -1;
    }
    if (end == s || scale < 0 || !(v >= 0 && v < 1e9)) {
        return false;
    }
    *out = v * scale;
    return true;
}

static int run_serve(int argc, char **argv)
{
    bool help = false;
    const char *listen = "127.0.0.1:8080", *data_dir = "dfdetect-data", *max_upload_s = "250M",
               *max_duration_s = "600s", *token = NULL, *model_path = NULL, *models_dir = NULL;
    int workers = 1, max_queue = 64;
    const cli_opt opts[] = {
        { "listen", CLI_STRING, &listen, 0, 0 },
        { "data-dir", CLI_STRING, &data_dir, 0, 0 },
        { "workers", CLI_INT, &workers, 1, 64 },
        { "max-upload", CLI_STRING, &max_upload_s, 0, 0 },
        { "max-duration", CLI_STRING, &max_duration_s, 0, 0 },
        { "max-queue", CLI_INT, &max_queue, 1, 1000000 },
        { "token", CLI_STRING, &token, 0, 0 },
        { "model", CLI_STRING, &model_path, 0, 0 },
        { "models", CLI_STRING, &models_dir, 0, 0 },
    };
    size_t n_pos;
    int rc = cli_parse(&cli_serve, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &n_pos,
                       &help);
    if (rc || help) {
        return rc;
    }
    dfd_server_opts so = dfd_server_opts_default();
    if (!parse_size(&so.max_upload, max_upload_s)) {
        cli_error("serve: --max-upload wants a size like 250M, not '%s'", max_upload_s);
        return CLI_USAGE;
    }
    if (!parse_seconds(&so.max_duration, max_duration_s)) {
        cli_error("serve: --max-duration wants seconds like 600s, not '%s'", max_duration_s);
        return CLI_USAGE;
    }
    so.listen = listen;
    so.data_dir = data_dir;
    so.workers = workers;
    so.max_queue = (size_t)max_queue;
    so.token = token;
    // Signals are taken by sigwait below: block them before any thread starts.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    dfd_error err;
    cli_scanning net = { 0 };
    dfd_server *server = NULL;
    rc = cli_scanning_load(&net, model_path, models_dir, true);
    so.networks = &net;
    if (!rc && dfd_server_start(&server, &so, &err)) {
        rc = cli_fail(&err);
    }
    if (!rc) {
        // --listen is HOST:PORT (checked by dfd_server_start): the host as given, the real port.
        printf("listening on http://%.*s:%d\n", (int)(strrchr(listen, ':') - listen), listen,
               dfd_server_port(server));
        fflush(stdout);
        int sig = 0;
        sigwait(&stop, &sig);
        fprintf(stderr, "dfdetect: serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        dfd_server_stop(server);
    }
    cli_scanning_free(&net);
    return rc;
}

const cli_command cli_serve = {
    .name = "serve",
    .summary = "serve the detector over HTTP: upload API, job history and a web page",
    .help = serve_help,
    .run = run_serve,
};
