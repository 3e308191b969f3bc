// The dfdetect program: a table of subcommands (one file each) and the small option parser they
// share. Exit codes: 0 success, 1 runtime failure (bad input file, I/O), 2 usage error.
#ifndef DFD_CLI_CLI_H
#define DFD_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/util/status.h"

enum {
    CLI_OK = 0,
    CLI_FAILED = 1,
    CLI_USAGE = 2
};

typedef struct cli_command {
    const char *name;
    const char *summary;               // one line for `dfdetect --help`
    const char *help;                  // full text for `dfdetect help NAME` / `NAME --help`
    const char *help_more;             // its continuation, or NULL (C99 caps a literal at 4095
                                       // bytes)
    int (*run)(int argc, char **argv); // argv[0] is the command name
} cli_command;

extern const cli_command cli_probe;
extern const cli_command cli_frames;
extern const cli_command cli_model;
extern const cli_command cli_faces;
extern const cli_command cli_dataset;
extern const cli_command cli_scan;
extern const cli_command cli_train;
extern const cli_command cli_eval;
extern const cli_command cli_serve;

// ---- option parsing ----

typedef enum cli_opt_kind {
    CLI_FLAG,    // bool, no value
    CLI_STRING,  // const char *
    CLI_INT,     // int, checked against [min, max]
    CLI_STRINGS, // cli_strings: each use of the option appends its value
} cli_opt_kind;

#define CLI_MAX_REPEAT 16

// The values of a repeatable option (--data A --data B), in order; borrowed from argv.
typedef struct cli_strings {
    const char *v[CLI_MAX_REPEAT];
    size_t n;
} cli_strings;

typedef struct cli_opt {
    const char *name; // long name without dashes
    cli_opt_kind kind;
    void *dest;    // bool*, const char**, int*, cli_strings*
    long min, max; // CLI_INT only
} cli_opt;

// Parse argv[1..] (argv[0] is the command): options as "--name value" or "--name=value", "--"
// ends options, everything else is positional (stored into pos, at most max_pos; *n_pos gets the
// count). "--help"/"-h" prints `cmd->help` and sets *help_shown. Prints one line to stderr and
// returns CLI_USAGE on an unknown option, a missing or bad value, or too many positionals.
int cli_parse(const cli_command *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts,
              const char **pos, size_t max_pos, size_t *n_pos, bool *help_shown);

// As cli_parse for commands taking any number of positionals: *pos is allocated (dfd_free it,
// also on error; NULL when out of memory, which returns CLI_FAILED).
int cli_parse_many(const cli_command *cmd, int argc, char **argv, const cli_opt *opts,
                   size_t n_opts, const char ***pos, size_t *n_pos, bool *help_shown);

// Print a command's whole help text to stdout.
void cli_print_help(const cli_command *cmd);

// Print "dfdetect: error: <message>" to stderr.
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Print an error record the same way and return CLI_FAILED.
int cli_fail(const dfd_error *err);

// Whether progress bars should be drawn: stdout and stderr are terminals and output is not JSON.
bool cli_show_progress(bool json);

// How many items to process at once for --jobs N (0: not given): a given N, or one job per CPU,
// and never more jobs than items. Independent jobs with one network thread each beat one job
// with all the threads (measured: 16 FF++ videos, `scan` 8.2 -> 6.7 s with 2 jobs on 2 cores;
// the 64 of the face test 45 -> 25 s): decoding and the single-threaded parts of the face stage
// overlap, and no job waits at another's OpenMP barriers.
int cli_jobs(int jobs, size_t n_items);

// Network threads of each of `jobs` jobs: the CPUs shared among them, at least one.
int cli_threads_per_job(int jobs);

// ---- inputs (inputs.c) ----

// Kinds of file a command takes from a folder.
enum {
    CLI_INPUT_VIDEO = 1,
    CLI_INPUT_IMAGE = 2
};

// Whether a file name has a video (.mp4, .mov, .mkv, .webm, ...) or image (.png, .jpg, .jpeg)
// extension, in any case.
bool cli_is_video_name(const char *name);
bool cli_is_image_name(const char *name);

// Expand positional arguments: a file is taken as given (a missing one too: processing reports
// it), a folder becomes its files of the wanted kinds, sorted (an empty one is reported and
// skipped). *paths gets n_paths allocated paths (cli_paths_free). Returns -1 when a folder cannot
// be listed or memory runs out (reported), else 0.
int cli_collect_inputs(char ***paths, size_t *n_paths, const char *const *args, size_t n,
                       int kinds);
void cli_paths_free(char **paths, size_t n); // accepts NULL

// Load the n datasets at paths (--data A --data B) as one (data/dataset.h dfd_dataset_concat;
// one path is loaded as is). *ds is overwritten; free with dfd_dataset_free. Errors: those of
// dfd_dataset_load and dfd_dataset_concat.
dfd_status cli_load_datasets(dfd_dataset *ds, const char *const *paths, size_t n, dfd_error *err);

#endif
