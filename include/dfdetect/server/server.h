// The dfdetect HTTP server (`dfdetect serve`): a libmicrohttpd daemon (one thread per
// connection) in front of a persistent job store (server/jobs.h) and a fixed pool of scan
// workers. Uploads are streamed to disk under the data directory by generated names, checked
// (a decodable video or a PNG/JPEG image), queued, and scanned by the workers, which each own a
// scanner and an explainer built on networks loaded once and shared read-only. The API is
// described in docs/openapi.yaml; the web page (server/web_assets.h) is served at "/".
// Data directory layout:
//   DIR/jobs.db (+ -wal, -shm)   the job store
//   DIR/jobs/<id>/input.<ext>     the upload (ext from its content: png, jpg or video)
//   DIR/jobs/<id>/faces/<k>.png   face k of the result under its Grad-CAM heatmap
//   DIR/tmp/                      uploads in progress (emptied at start)
// At start, job folders the store does not know (a crash between storing an upload and queueing
// it) are removed, and a job's half-written face folder is removed when it runs again.
#ifndef DFD_SERVER_SERVER_H
#define DFD_SERVER_SERVER_H

#include <stddef.h>

#include "dfdetect/detect/networks.h"
#include "dfdetect/util/status.h"

typedef struct dfd_server_opts {
    const char *listen;   // "HOST:PORT" (IPv4 address or "localhost"); port 0 picks a free one
    const char *data_dir; // created when missing
    int workers;          // scan workers (1..64)
    size_t max_upload;    // bytes of the largest accepted file
    double max_duration;  // seconds of the longest accepted video (0: no limit)
    size_t max_queue;     // queued jobs beyond which uploads get 503 (>= 1)
    const char *token;    // NULL or "": no authentication; else "Authorization: Bearer TOKEN"
    int n_threads;        // threads per worker in decoding and the networks (0: CPUs / workers)
    // The networks every worker borrows (loaded with dfd_scan_networks_load and
    // dfd_scan_networks_load_explain); must outlive the server.
    const dfd_scan_networks *networks;
} dfd_server_opts;

// Defaults: "127.0.0.1:8080", data dir "dfdetect-data", 1 worker, 250 MiB, 600 s, 64 queued,
// no token, networks NULL (required).
dfd_server_opts dfd_server_opts_default(void);

typedef struct dfd_server dfd_server;

// Open the store (requeuing jobs a crash left running), start the workers and listen.
// Errors, one line: DFD_ERR_INVALID (bad options or listen address), DFD_ERR_IO (the data dir,
// the store, the socket: address in use), those of dfd_scanner_create / dfd_explainer_create,
// DFD_ERR_NOMEM.
dfd_status dfd_server_start(dfd_server **out, const dfd_server_opts *opts, dfd_error *err);

// The port it listens on (the one picked for port 0).
int dfd_server_port(const dfd_server *s);

// Stop: no new connections, wait for the open ones, let each worker finish the job it runs (the
// queued ones stay queued for the next start), free everything. Accepts NULL.
void dfd_server_stop(dfd_server *s);

#endif
