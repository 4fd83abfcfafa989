// optdb inspect (not built yet).
#include "command.hpp"

namespace optdb::cli {

void addInspect(CLI::App& app, Globals& g) {
  auto* sub = app.add_subcommand("inspect", "(not available yet)");
  sub->allow_extras();
  setAction(sub, g, [] { return Status::io("optdb inspect is not available yet"); });
}

}  // namespace optdb::cli
