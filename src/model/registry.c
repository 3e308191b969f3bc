// The model registry: roles to files, and the default models directory.
#include "dfdetect/model/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/util/fileio.h"

static const char *const role_files[DFD_ROLE_COUNT] = {
    "blazeface.json",
    "facemesh.json",
    "faceres.json",
    "antispoof.json",
};

const char *dfd_model_role_file(dfd_model_role role)
{
    return (unsigned)role < DFD_ROLE_COUNT ? role_files[role] : "";
}

static bool is_dir_with_models(const char *dir)
{
    char p[4096];
    int n = snprintf(p, sizeof p, "%s/%s", dir, role_files[DFD_ROLE_DETECTOR]);
    return n > 0 && (size_t)n < sizeof p && access(p, R_OK) == 0;
}

// Look for <ancestor>/<rel> for the one to three folders above the running program
// (<repo>/build/dfdetect -> <repo>/<rel>), accepting the first that `ok` approves.
static bool find_beside_program(char *out, size_t n, const char *rel, bool (*ok)(const char *))
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        return false;
    }
    exe[len] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) {
            break;
        }
        *slash = '\0';
        char cand[4096];
        int k = snprintf(cand, sizeof cand, "%s/%s", exe, rel);
        if (k > 0 && (size_t)k < sizeof cand && ok(cand)) {
            snprintf(out, n, "%s", cand);
            return true;
        }
    }
    return false;
}

void dfd_models_dir_default(char *out, size_t n)
{
    const char *env = getenv("DFD_MODELS");
    if (env && env[0]) {
        snprintf(out, n, "%s", env);
    } else if (!find_beside_program(out, n, "models", is_dir_with_models)) {
        snprintf(out, n, "models");
    }
}

static bool is_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

void dfd_detector_default_path(char *out, size_t n)
{
    const char *env = getenv("DFD_DETECTOR");
    if (env && env[0]) {
        snprintf(out, n, "%s", env);
    } else if (!find_beside_program(out, n, DFD_DETECTOR_DEFAULT, is_readable)) {
        snprintf(out, n, "%s", DFD_DETECTOR_DEFAULT);
    }
}

dfd_status dfd_model_path(char *out, size_t n, const char *dir, dfd_model_role role, dfd_error *err)
{
    int len = snprintf(out, n, "%s/%s", dir, dfd_model_role_file(role));
    if (len < 0 || (size_t)len >= n) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: models path too long", dir);
    }
    if (access(out, R_OK) != 0) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND,
                             "%s: model file missing (run scripts/setup.sh, or set DFD_MODELS)",
                             out);
    }
    return DFD_OK;
}
