// optdb repair (not built yet).
#include "command.hpp"

namespace optdb::cli {

void addRepair(CLI::App& app, Globals& g) {
  auto* sub = app.add_subcommand("repair", "(not available yet)");
  sub->allow_extras();
  setAction(sub, g, [] { return Status::io("optdb repair is not available yet"); });
}

}  // namespace optdb::cli
