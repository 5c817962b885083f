-- ops.use_python_runtime(): put sqlml's runtime site first on this session's sys.path.
-- Called as the first line of every PL/Python procedure; PL/Python shares one
-- interpreter per session, so the work is done once and later calls return at once.
-- Only the deploying owner decides what code the database runs:
-- * the path is the DATABASE-level setting sqlml.runtime_path (pg_db_role_setting,
--   setrole 0: ALTER DATABASE ... SET, which only the database owner or a superuser
--   may run; read by ops.python_runtime, with this function's pinned search_path),
--   never the session's value, which SET, a connection option or ALTER ROLE ... SET
--   can change;
-- * the directory, each directory above it, and each entry directly in it must be
--   owned by root or the server's OS user and writable by no one else (group- or
--   world-writable parents are allowed only when sticky and root-owned, like /tmp);
-- * it must not lie in the data directory, where table files live.
-- SECURITY DEFINER so that a caller's settings play no part; executable by
-- sqlml_operator, for whom it does nothing but this. Returns nothing.
-- The checks are Python here, not in the sqlml package, because they decide
-- whether that package may be imported at all.
CREATE OR REPLACE FUNCTION ops.use_python_runtime()
RETURNS void
LANGUAGE plpython3u
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
if SD.get("path"):
    return
import os, stat, sys
path = plpy.execute("SELECT ops.python_runtime() ->> 'runtime_path' AS p")[0]["p"]
if not path:
    plpy.error("sqlml's Python runtime is not configured for this database",
               hint="run `sqlml deploy --url ...`; it sets sqlml.runtime_path with ALTER DATABASE")
real = os.path.realpath(path)
data = os.path.realpath(os.getcwd())  # a backend's working directory is the data directory
def refuse(why):
    plpy.error("sqlml refuses runtime path %r: %s" % (path, why), sqlstate="42501",
               hint="deploy the runtime to a directory only root or the server's OS user can write")
if not os.path.isabs(path) or not os.path.isdir(real):
    refuse("not an absolute path to a directory")
if real == data or real.startswith(data.rstrip(os.sep) + os.sep):
    refuse("it is inside the data directory")
trusted = {0, os.geteuid()}
def check(p, st, entry):
    if st.st_uid not in trusted:
        refuse("%s is owned by uid %d" % (p, st.st_uid))
    if st.st_mode & 0o022:
        sticky_root = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and st.st_uid == 0
        if entry or p == real or not sticky_root:
            refuse("%s is writable by group or others" % p)
p = real
while True:
    check(p, os.stat(p), False)
    parent = os.path.dirname(p)
    if parent == p:
        break
    p = parent
for name in os.listdir(real):
    entry = os.path.join(real, name)
    check(entry, os.lstat(entry), True)
if real in sys.path:
    sys.path.remove(real)
sys.path.insert(0, real)
SD["path"] = real
$$;
REVOKE ALL ON FUNCTION ops.use_python_runtime() FROM public;
GRANT EXECUTE ON FUNCTION ops.use_python_runtime() TO sqlml_operator;
