# oneagent_preload_remove [FILE]: takes every entry of liboneagent_preload.so (any directory) out
# of the loader's preload list (default /etc/ld.so.preload) and keeps every other entry and
# comment. Mirrors daemon/src/injection/preload_file.rs: entries are separated by white space or
# `:`, `#` starts a comment, a line that held only our entry goes, a line that also holds other
# entries keeps them (joined by one space) and its comment, other lines are kept byte for byte;
# the file is deleted when nothing but white space is left. Written atomically: a temporary
# file in the same directory, then mv. Works without the daemon. POSIX sh + awk.
# (Inlined into the maintainer scripts by packaging/build; tested by packaging/tests.)
oneagent_preload_remove() {
    _oa_file=${1:-/etc/ld.so.preload}
    [ -f "$_oa_file" ] || return 0
    grep -q 'liboneagent_preload\.so' "$_oa_file" 2>/dev/null || return 0
    _oa_tmp="$(dirname "$_oa_file")/.$(basename "$_oa_file").oneagent-$$"
    rm -f "$_oa_tmp"
    if ! awk '
        {
            body = $0; comment = ""
            i = index(body, "#")
            if (i > 0) { comment = substr(body, i); body = substr(body, 1, i - 1) }
            n = split(body, tok, /[ \t\r\v\f:]+/)
            kept = ""; ours = 0
            for (k = 1; k <= n; k++) {
                if (tok[k] == "") continue
                base = tok[k]
                sub(/.*\//, "", base)
                if (base == "liboneagent_preload.so") { ours = 1; continue }
                kept = (kept == "") ? tok[k] : kept " " tok[k]
            }
            if (!ours) { print $0; next }
            if (kept == "" && comment == "") next
            if (kept != "" && comment != "") kept = kept " "
            print kept comment
        }' "$_oa_file" >"$_oa_tmp"; then
        rm -f "$_oa_tmp"
        echo "oneagent: could not rewrite $_oa_file; remove the line naming liboneagent_preload.so by hand" >&2
        return 1
    fi
    if ! grep -q '[^[:space:]]' "$_oa_tmp"; then
        rm -f "$_oa_tmp" "$_oa_file"
    else
        chmod 0644 "$_oa_tmp"
        mv -f "$_oa_tmp" "$_oa_file"
        if command -v restorecon >/dev/null 2>&1; then restorecon "$_oa_file" 2>/dev/null || true; fi
    fi
    return 0
}
