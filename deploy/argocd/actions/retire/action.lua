-- Argo CD action "retire": set clientops.dev/retire-previous to the current time (UTC).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["clientops.dev/retire-previous"] = os.date("!%Y-%m-%dT%XZ")
return obj
