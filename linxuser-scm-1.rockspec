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
build = {
   type = "builtin",
   modules = {
      linxuser = {
         sources = { "src/linxuser_module.c", "src/linxuser.c", "src/lmaps.c", "src/ltarget.c",
                     "src/linxuser_ids.c", "src/lroute.c", "src/subid.c", "src/idtrans.c",
                     "src/idhelper.c", "src/child_helper.c", "src/idmap.c", "src/decimal.c", "src/procfs.c", "src/lerror.c",
                     "src/errname.c" },
         defines = { "_GNU_SOURCE" },
         incdirs = { "src" },
      },
      ["linx.process"] = {
         sources = { "src/process.c", "src/process_nb.c", "src/spawn_opts.c", "src/keeper_host.c", "src/block.c",
                     "src/child.c", "src/child_inside.c", "src/lerror.c", "src/errname.c",
                     "src/spawn_policy.c", "src/child_policy.c", "src/output_limit.c",
                     "src/spawn_sandbox.c" },
         defines = { "_GNU_SOURCE" },
         incdirs = { "src" },
      },
      -- the pure Lua modules of lua/linx/ (linx-lua has them embedded)
      ["linx.run"] = "lua/linx/run.lua",
      ["linx.luv"] = "lua/linx/luv.lua",
      ["linx.resty"] = "lua/linx/resty.lua",
      ["linx.sandbox"] = "lua/linx/sandbox.lua",
   },
}
