#!/bin/sh
# A minimal stdio MCP server in POSIX sh (no interpreter outside the system directories, so it runs inside
# `jinnguard agent run` on any host): tools lookup_weather and delete_everything; logs each call it runs
# to ./upstream.log (its workspace). For the locked-upstream test only.
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/.*"id":[ ]*\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"method":"server/discover"'*|*'"method": "server/discover"'*)
      r='{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"resultType":"complete"}' ;;
    *'"method":"tools/list"'*|*'"method": "tools/list"'*)
      r='{"tools":[{"name":"lookup_weather","inputSchema":{"type":"object"}},{"name":"delete_everything","inputSchema":{"type":"object"}}],"cacheScope":"private","ttlMs":0,"resultType":"complete"}' ;;
    *'"method":"tools/call"'*|*'"method": "tools/call"'*)
      name=$(printf '%s' "$line" | sed -n 's/.*"params":[ ]*{[ ]*"name":[ ]*"\([a-z_]*\)".*/\1/p')
      printf '{"tool": "%s", "args": {}}\n' "$name" >> upstream.log
      r='{"content":[{"type":"text","text":"ran '"$name"'"}],"isError":false,"resultType":"complete"}' ;;
    *'"method"'*) r='{}' ;;
    *) continue ;;
  esac
  [ -n "$id" ] && printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$id" "$r"
done
