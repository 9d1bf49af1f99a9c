-- Argo CD action "reconcile": set clientops.dev/reconcile to the current time (UTC).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["clientops.dev/reconcile"] = os.date("!%Y-%m-%dT%XZ")
return obj
