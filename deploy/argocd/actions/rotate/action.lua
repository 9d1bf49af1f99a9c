-- Argo CD action "rotate": set clientops.dev/rotate to the current time (UTC).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["clientops.dev/rotate"] = os.date("!%Y-%m-%dT%XZ")
return obj
