#include "core/state_files.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace adam {

namespace {

std::runtime_error refused(const std::string& path, const std::string& why) {
  return std::runtime_error("refusing " + path + ": " + why);
}

// The checks every state file and the state dir get once open.
void check_owned(int fd, const std::string& path, mode_t type, mode_t allowed_bits) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error("cannot stat " + path + ": " + std::strerror(errno));
  if ((st.st_mode & S_IFMT) != type)
    throw refused(path, type == S_IFDIR ? "not a directory" : "not a regular file");
  if (st.st_uid != ::geteuid())
    throw refused(path, "owned by uid " + std::to_string(st.st_uid) + ", not by adamd's uid " +
                            std::to_string(::geteuid()));
  if ((st.st_mode & 07777 & ~allowed_bits) != 0) {
    spdlog::warn("{} had mode {:04o}: made {:04o}", path, st.st_mode & 07777, allowed_bits);
    if (::fchmod(fd, allowed_bits) != 0)
      throw std::runtime_error("cannot chmod " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

void prepare_state_dir(const std::string& dir) {
  std::filesystem::create_directories(dir);
  // The state dir itself may be a symlink an administrator made (to another
  // disk); what must not be planted is what is inside it.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw std::runtime_error("cannot open state dir " + dir + ": " + std::strerror(errno));
  check_owned(fd.get(), dir, S_IFDIR, 0700);
}

UniqueFd open_state_file(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    if (errno == ELOOP) throw refused(path, "it is a symbolic link");
    if (errno == ENOENT && !(flags & O_CREAT)) return fd;
    throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  }
  check_owned(fd.get(), path, S_IFREG, 0600);
  return fd;
}

void write_state_file(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  // A leftover of a crash, or something planted: never written through.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT)
    throw std::runtime_error("cannot remove " + tmp + ": " + std::strerror(errno));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool written = ::fchmod(fd.get(), 0600) == 0;  // whatever the umask
  for (size_t done = 0; written && done < contents.size();) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    written = n > 0;
    if (written) done += static_cast<size_t>(n);
  }
  written = written && ::fsync(fd.get()) == 0;
  fd.reset();
  // rename() replaces a symlink at `path` itself, never its target.
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
  }
}

}  // namespace adam
