// `tandem ft status` and the JSON form of fault tolerance's figures
// (query-ft).
#pragma once

#include <nlohmann/json.hpp>

#include "ft/ft_status.h"

namespace tandem::cli {

nlohmann::json to_json(const ft::FtStatus& s);

// `tandem ft status --monitor PATH [--json]`: returns the exit status.
int ft_command(int argc, char** argv, int first);

}  // namespace tandem::cli
