// JSON replies and error bodies of the server: every error is
// {"error": {"code": "<name>", "message": "<one line>"}}.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server_internal.h"

// Queue `body` (consumed) as JSON with status http and, when not NULL, a Retry-After header.
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned http, cJSON *body,
                                 const char *retry_after)
{
    static const char oom[] = "{\"error\":{\"code\":\"nomem\",\"message\":\"out of memory\"}}";
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    // MHD copies the text: cJSON's allocator and MHD's free need not match.
    struct MHD_Response *r = MHD_create_response_from_buffer(text ? strlen(text) : strlen(oom),
                                                             text ? text : (void *)(uintptr_t)oom,
                                                             MHD_RESPMEM_MUST_COPY);
    if (text) {
        cJSON_free(text);
    } else {
        http = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (retry_after) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    }
    enum MHD_Result ret = MHD_queue_response(c, http, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result server_reply_json(struct MHD_Connection *c, unsigned http, cJSON *body)
{
    return send_json(c, http, body, NULL);
}

static cJSON *error_body(const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
    if (e) {
        cJSON_AddStringToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", msg);
    }
    return o;
}

enum MHD_Result server_reply_error(struct MHD_Connection *c, unsigned http, const char *code,
                                   const char *msg)
{
    return server_reply_json(c, http, error_body(code, msg));
}

enum MHD_Result server_reply_status(struct MHD_Connection *c, const dfd_error *err)
{
    unsigned http;
    switch (err->code) {
    case DFD_ERR_INVALID:
    case DFD_ERR_FORMAT:
        http = MHD_HTTP_BAD_REQUEST;
        break;
    case DFD_ERR_LIMIT:
        http = MHD_HTTP_CONTENT_TOO_LARGE;
        break;
    case DFD_ERR_UNSUPPORTED:
        http = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        break;
    case DFD_ERR_NOT_FOUND:
        http = MHD_HTTP_NOT_FOUND;
        break;
    default:
        http = MHD_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }
    return server_reply_error(c, http, dfd_status_str(err->code), dfd_error_message(err));
}

enum MHD_Result server_reply_busy(struct MHD_Connection *c, const char *msg)
{
    return send_json(c, MHD_HTTP_SERVICE_UNAVAILABLE, error_body("busy", msg), "5");
}

bool server_job_path(char *out, size_t n, const dfd_server *s, const char *id, const char *rest)
{
    int len = rest ? snprintf(out, n, "%s/jobs/%s/%s", s->data_dir, id, rest)
                   : snprintf(out, n, "%s/jobs/%s", s->data_dir, id);
    return len > 0 && (size_t)len < n;
}
