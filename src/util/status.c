// Status names, error formatting and the always-on assertion handler.
#include "dfdetect/util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/log.h"

_Static_assert(DFD_STATUS_COUNT == 8, "update status_names when adding a status");

static const char *const status_names[DFD_STATUS_COUNT] = {
    "ok", "nomem", "io", "format", "unsupported", "invalid", "not_found", "limit",
};

const char *dfd_status_str(dfd_status st)
{
    if ((unsigned)st >= DFD_STATUS_COUNT) {
        return "unknown";
    }
    return status_names[st];
}

__attribute__((format(printf, 4, 0))) static void
error_vset(dfd_error *err, dfd_status code, int errnum, const char *fmt, va_list ap)
{
    err->code = code;
    err->sys_errno = errnum;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n < 0) {
        err->msg[0] = '\0';
        n = 0;
    }
    // Messages quote untrusted text (file names, strings from model files, headers): keep them
    // one printable line by replacing control characters.
    for (char *c = err->msg; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    if (errnum != 0 && (size_t)n < sizeof err->msg) {
        char buf[128];
        // strerror_r (XSI version under _POSIX_C_SOURCE) is thread-safe where strerror is not.
        if (strerror_r(errnum, buf, sizeof buf) != 0) {
            snprintf(buf, sizeof buf, "errno %d", errnum);
        }
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", buf);
    }
}

dfd_status dfd_error_set(dfd_error *err, dfd_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, 0, fmt, ap);
        va_end(ap);
    }
    return code;
}

dfd_status dfd_error_set_errno(dfd_error *err, dfd_status code, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, errnum, fmt, ap);
        va_end(ap);
    }
    return code;
}

void dfd_error_clear(dfd_error *err)
{
    if (err) {
        err->code = DFD_OK;
        err->sys_errno = 0;
        err->msg[0] = '\0';
    }
}

const char *dfd_error_message(const dfd_error *err)
{
    if (!err) {
        return "";
    }
    if (err->msg[0] == '\0') {
        return dfd_status_str(err->code);
    }
    return err->msg;
}

void dfd_assert_fail(const char *file, int line, const char *expr)
{
    dfd_log(DFD_LOG_ERROR, "%s:%d: assertion failed: %s", file, line, expr);
    // The log sink may discard; a failed invariant must always be visible.
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
