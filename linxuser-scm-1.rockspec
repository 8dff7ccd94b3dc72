-- LuaRocks package for the linxuser C modules. From a checkout:
--   luarocks make --tree ./rocks linxuser-scm-1.rockspec
-- builds linxuser and linx.process against the Lua that luarocks is
-- configured for (5.1 to 5.4, or LuaJIT). The linx-lua host binary and its
-- man page are installed by `make install`, not by the rock.
rockspec_format = "3.0"
package = "linxuser"
version = "scm-1"
source = {
   -- No public repository yet: build from a checkout with `luarocks make`.
   url = "git+https://example.invalid/linxuser.git",
}
description = {
   summary = "Linux user-namespace identity (uid_map, gid_map, setgroups) from Lua",
   detailed = [[
linxuser writes and reads the uid_map, gid_map and setgroups files of a
process in a new user namespace, validating maps before the kernel's
one-shot write and returning error tables (nil, err, errno) instead of
raising. linx.process spawns a child into new namespaces, parked at a
checkpoint until its maps are written.
]],
   license = "MIT",
   labels = { "linux", "namespaces", "containers", "system" },
}
supported_platforms = { "linux" }
dependencies = {
   "lua >= 5.1, < 5.5",
}
-- inside.seccomp compiles policies with libseccomp (Debian: libseccomp-dev)
external_dependencies = {
   LIBSECCOMP = { header = "seccomp.h", library = "seccomp" },
}
build = {
   type = "builtin",
   modules = {
      linxuser = {
         sources = { "src/linxuser/linxuser_module.c", "src/linxuser/linxuser.c", "src/support/lmaps.c", "src/linxuser/ltarget.c",
                     "src/linxuser/linxuser_ids.c", "src/linxuser/lroute.c", "src/core/subid.c", "src/core/idtrans.c",
                     "src/os/idhelper.c", "src/child/child_helper.c", "src/core/idmap.c", "src/core/decimal.c", "src/os/procfs.c", "src/support/lerror.c",
                     "src/core/errname.c" },
         defines = { "_GNU_SOURCE" },
         incdirs = { "src" },
      },
      ["linx.process"] = {
         sources = { "src/process/process.c", "src/process/process_nb.c", "src/process/spawn_opts.c", "src/process/keeper_host.c", "src/process/block.c",
                     "src/child/child.c", "src/child/child_inside.c", "src/support/lerror.c", "src/core/errname.c",
                     "src/process/spawn_policy.c", "src/child/child_policy.c", "src/process/output_limit.c",
                     "src/process/spawn_seccomp.c", "src/process/spawn_cgroup.c", "src/child/child_seccomp.c",
                     "src/process/spawn_idmap.c", "src/process/spawn_net.c", "src/process/idmapped.c",
                     "src/child/child_net.c", "src/child/child_idmapped.c", "src/core/idmap.c", "src/core/decimal.c",
                     "src/support/lmaps.c", "src/core/idtrans.c",
                     "src/process/spawn_sandbox.c", "src/process/stages.c",
                     "src/process/spawn_mounts.c", "src/child/child_mounts.c", "src/process/spawn_read.c",
                     "src/process/spawn.c", "src/process/proceed.c", "src/process/pool.c", "src/process/handover.c" },
         defines = { "_GNU_SOURCE" },
         incdirs = { "src", "$(LIBSECCOMP_INCDIR)" },
         libdirs = { "$(LIBSECCOMP_LIBDIR)" },
         libraries = { "seccomp" },
      },
      -- the pure Lua modules of lua/linx/ (linx-lua has them embedded)
      ["linx.run"] = "lua/linx/run.lua",
      ["linx.luv"] = "lua/linx/luv.lua",
      ["linx.resty"] = "lua/linx/resty.lua",
      ["linx.sandbox"] = "lua/linx/sandbox.lua",
   },
}
