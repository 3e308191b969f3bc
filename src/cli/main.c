// dfdetect: entry point. Global options, the command table, `help`, and the log sink.
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/util/log.h"

static const cli_command *const commands[] = { &cli_probe, &cli_frames,  &cli_faces,
                                               &cli_model, &cli_dataset, &cli_scan,
                                               &cli_train, &cli_eval,    &cli_serve };
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out)
{
    fputs("usage: dfdetect [--verbose|--quiet] <command> [options] [arguments]\n"
          "\n"
          "Deepfake video detector: finds the faces in a video, scores them with a neural\n"
          "network and answers REAL or FAKE with a calibrated probability and its evidence.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    }
    fputs("  help       show the help of a command: dfdetect help COMMAND\n"
          "\n"
          "global options:\n"
          "  --help, -h     this text\n"
          "  --version      print the version\n"
          "  --verbose, -v  log progress details to stderr (twice: debugging, with FFmpeg's)\n"
          "  --quiet, -q    only errors on stderr\n"
          "\n"
          "exit codes: 0 success, 1 failure (bad input file, I/O), 2 usage error\n",
          out);
}

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i]->name, name) == 0) {
            return commands[i];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    dfd_log_level level = DFD_LOG_WARN;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("dfdetect %s\n", DFD_VERSION);
            return CLI_OK;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            level = level == DFD_LOG_WARN ? DFD_LOG_INFO : DFD_LOG_DEBUG;
        } else if (strcmp(a, "-vv") == 0) {
            level = DFD_LOG_DEBUG;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            level = DFD_LOG_ERROR;
        } else {
            cli_error("unknown option '%s' (see 'dfdetect --help')", a);
            return CLI_USAGE;
        }
    }
    dfd_log_set(dfd_log_sink_file, stderr, level);
    if (i >= argc) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 >= argc) {
            print_usage(stdout);
            return CLI_OK;
        }
        const cli_command *c = find_command(argv[i + 1]);
        if (!c) {
            cli_error("unknown command '%s' (see 'dfdetect --help')", argv[i + 1]);
            return CLI_USAGE;
        }
        cli_print_help(c);
        return CLI_OK;
    }
    const cli_command *c = find_command(name);
    if (!c) {
        cli_error("unknown command '%s' (see 'dfdetect --help')", name);
        return CLI_USAGE;
    }
    return c->run(argc - i, argv + i);
}
