#pragma once

#include <nlohmann/json.hpp>

namespace tandem::cli {

// `tandem replication status --monitor [unix:]PATH [--json]`: prints a
// protected VM's (or a backup's) replication status for a person.
int replication_command(int argc, char** argv, int first);
// The "arbiter" of a status (query-replication's or query-ft's) as one
// line after `label`; nothing without one.
void print_arbiter(const nlohmann::json& status, const char* label);

}  // namespace tandem::cli
