// optdb restore (not built yet).
#include "command.hpp"

namespace optdb::cli {

void addRestore(CLI::App& app, Globals& g) {
  auto* sub = app.add_subcommand("restore", "(not available yet)");
  sub->allow_extras();
  setAction(sub, g, [] { return Status::io("optdb restore is not available yet"); });
}

}  // namespace optdb::cli
