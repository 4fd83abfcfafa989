// optdb archive (not built yet).
#include "command.hpp"

namespace optdb::cli {

void addArchive(CLI::App& app, Globals& g) {
  auto* sub = app.add_subcommand("archive", "(not available yet)");
  sub->allow_extras();
  setAction(sub, g, [] { return Status::io("optdb archive is not available yet"); });
}

}  // namespace optdb::cli
