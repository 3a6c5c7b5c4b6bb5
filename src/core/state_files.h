#pragma once
// adamd's files in its state dir (lock, database, tokens, TLS key), created
// and opened so that nothing planted there redirects them: a symlink is
// refused (O_NOFOLLOW), so is a file that is not a regular file or belongs
// to another user, and every file is made readable by its owner only (it
// holds token hashes, remote machines' tokens and the audit trail).
#include <string>
#include <string_view>

#include "core/bpf_handle.h"  // UniqueFd

namespace adam {

// Creates `dir` (0700) when missing. Throws std::runtime_error when it is not
// a directory or belongs to another user than adamd's; a directory others
// may enter or write to is made 0700 (logged).
void prepare_state_dir(const std::string& dir);

// open(2) of a file in the state dir with O_NOFOLLOW | O_CLOEXEC (and mode
// 0600 when O_CREAT creates it): throws std::runtime_error naming the path
// for a symlink, a non-regular file or one of another user; a file others
// may read is made 0600 (logged). Returns an empty fd when the file does not
// exist and `flags` has no O_CREAT.
UniqueFd open_state_file(const std::string& path, int flags);

// Replaces `path` with `contents` atomically (a fresh temporary file beside
// it, mode 0600 from the start, fsync, rename). Throws std::runtime_error.
void write_state_file(const std::string& path, std::string_view contents);

}  // namespace adam
