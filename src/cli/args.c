// Option parsing and error reporting shared by the subcommands.
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/threads.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dfdetect: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const dfd_error *err)
{
    cli_error("%s", dfd_error_message(err));
    return CLI_FAILED; // usage errors are caught by the parser; anything later is a failure
}

void cli_print_help(const cli_command *cmd)
{
    fputs(cmd->help, stdout);
    if (cmd->help_more) {
        fputs(cmd->help_more, stdout);
    }
}

bool cli_show_progress(bool json)
{
    return !json && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
}

int cli_jobs(int jobs, size_t n_items)
{
    if (jobs <= 0) {
        jobs = dfd_cpu_count();
    }
    if (n_items > 0 && (size_t)jobs > n_items) {
        jobs = (int)n_items;
    }
    return jobs < 1 ? 1 : jobs;
}

int cli_threads_per_job(int jobs)
{
    int t = dfd_cpu_count() / (jobs < 1 ? 1 : jobs);
    return t < 1 ? 1 : t;
}

static const cli_opt *find_opt(const cli_opt *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static int set_value(const cli_command *cmd, const cli_opt *o, const char *value)
{
    if (o->kind == CLI_STRING) {
        *(const char **)o->dest = value;
        return CLI_OK;
    }
    if (o->kind == CLI_STRINGS) {
        cli_strings *list = o->dest;
        if (list->n == CLI_MAX_REPEAT) {
            cli_error("%s: --%s given more than %d times", cmd->name, o->name, CLI_MAX_REPEAT);
            return CLI_USAGE;
        }
        list->v[list->n++] = value;
        return CLI_OK;
    }
    char *end;
    errno = 0;
    long x = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || x < o->min || x > o->max) {
        cli_error("%s: --%s needs a whole number from %ld to %ld, not '%s'", cmd->name, o->name,
                  o->min, o->max, value);
        return CLI_USAGE;
    }
    *(int *)o->dest = (int)x;
    return CLI_OK;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts,
              const char **pos, size_t max_pos, size_t *n_pos, bool *help_shown)
{
    *n_pos = 0;
    *help_shown = false;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (*n_pos >= max_pos) {
                cli_error("%s: unexpected argument '%s' (see 'dfdetect help %s')", cmd->name, a,
                          cmd->name);
                return CLI_USAGE;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd);
            *help_shown = true;
            return CLI_OK;
        }
        if (a[1] != '-') {
            cli_error("%s: unknown option '%s' (see 'dfdetect help %s')", cmd->name, a, cmd->name);
            return CLI_USAGE;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = find_opt(opts, n_opts, name, len);
        if (!o) {
            cli_error("%s: unknown option '--%.*s' (see 'dfdetect help %s')", cmd->name, (int)len,
                      name, cmd->name);
            return CLI_USAGE;
        }
        if (o->kind == CLI_FLAG) {
            if (eq) {
                cli_error("%s: --%s takes no value", cmd->name, o->name);
                return CLI_USAGE;
            }
            *(bool *)o->dest = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                cli_error("%s: --%s needs a value", cmd->name, o->name);
                return CLI_USAGE;
            }
            value = argv[++i];
        }
        int rc = set_value(cmd, o, value);
        if (rc) {
            return rc;
        }
    }
    return CLI_OK;
}

int cli_parse_many(const cli_command *cmd, int argc, char **argv, const cli_opt *opts,
                   size_t n_opts, const char ***pos, size_t *n_pos, bool *help_shown)
{
    *n_pos = 0;
    *pos = dfd_calloc((size_t)argc + 1, sizeof **pos);
    if (!*pos) {
        cli_error("out of memory");
        return CLI_FAILED;
    }
    return cli_parse(cmd, argc, argv, opts, n_opts, *pos, (size_t)argc, n_pos, help_shown);
}
