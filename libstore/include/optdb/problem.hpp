// A problem integrity finds in a store (SPEC §6): where, what kind, and why
// in one printable line. The storage layer reports the problems of single
// stored items (a link, a FIFO, a temporary file); integrity those of blocks.
#pragma once

#include <functional>
#include <string>

#include "optdb/json.hpp"

namespace optdb {

// Problem kinds (the `kind` of a Problem; see optdb-inspect(1)).
namespace problem {
inline constexpr const char* kBadJson = "bad-json";                   // a final-name file that does not parse
inline constexpr const char* kBadMeta = "bad-meta";                   // meta.json parses but is not metadata
inline constexpr const char* kBadRanges = "bad-ranges";               // malformed, unsorted or unmerged ranges
inline constexpr const char* kLatestMissing = "latest-missing";       // latest names a revision whose files are missing
inline constexpr const char* kInterruptedCommit = "interrupted-commit";  // a revision whose transaction is only pending
inline constexpr const char* kAboveLatest = "above-latest";           // a complete revision above latest
inline constexpr const char* kLostRevision = "lost-revision";         // a committed transform no revision names
inline constexpr const char* kMissingTransform = "missing-transform"; // a revision naming a transaction with no transform
inline constexpr const char* kDuplicateRevision = "duplicate-revision";  // two revisions name one transaction
inline constexpr const char* kLeftoverIntent = "leftover-intent";     // a commit intent under .optdb/intents
inline constexpr const char* kUnmaterializableTip = "unmaterializable-tip";  // replay of the tip fails
inline constexpr const char* kPendingCommitted = "pending-committed"; // one TrxId pending and committed
inline constexpr const char* kTempFile = "temp-file";                 // a stray temporary file
inline constexpr const char* kBadName = "bad-name";                   // a data file name that is not a valid id
inline constexpr const char* kBadType = "bad-type";                   // a directory where a file belongs, or the reverse
inline constexpr const char* kSymlink = "symlink";                    // a symbolic link, anywhere
inline constexpr const char* kUnexamined = "unexamined";             // a block that could not be read (an I/O error)
inline constexpr const char* kHardLink = "hard-link";                 // a stored file with more than one link
inline constexpr const char* kDuplicateName = "duplicate-name";       // one file under both its %3A and its raw ':' name
inline constexpr const char* kOvertakenCommit = "overtaken-commit";   // an interrupted commit below a later revision
inline constexpr const char* kForkedHistory = "forked-history";       // a revision committed below one whose state lacks it
inline constexpr const char* kMixedDialect = "mixed-dialect";         // files of both layout generations in one block
// Every kind above (inspect --prom gives each a series, 0 where none is found).
inline constexpr const char* kKinds[] = {
    kBadJson, kBadMeta, kBadRanges, kLatestMissing, kInterruptedCommit, kAboveLatest, kLostRevision,
    kMissingTransform, kDuplicateRevision, kLeftoverIntent, kUnmaterializableTip, kPendingCommitted,
    kTempFile, kBadName, kBadType, kSymlink, kUnexamined, kHardLink, kDuplicateName, kOvertakenCommit,
    kForkedHistory, kMixedDialect,
};
}  // namespace problem

struct Problem {
  std::string path;  // store-relative: "b0/meta.json", "b1/trx/t1.json", or a block directory "b2"
  std::string kind;
  std::string message;  // plain words, one line
  // {"path","kind","message"}
  Json toJson() const;
  bool operator==(const Problem&) const = default;
};

// A problem with `path` and `message` made printable (one line, valid UTF-8).
Problem makeProblem(const std::string& path, const char* kind, const std::string& message);

using ProblemSink = std::function<void(const Problem&)>;

}  // namespace optdb
