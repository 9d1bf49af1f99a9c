-- Argo CD health check for clientops.dev/OAuthClient.
-- Healthy: Ready=True at the current generation. Degraded: Stalled=True (a human
-- must act; the message says what). Progressing: not yet observed at this
-- generation, Reconciling=True, or not Ready yet.
-- Argo CD runs custom health scripts without the string library: only base,
-- table and a reduced os are used here.
local function text(v)
  if v == nil then
    return ""
  end
  return tostring(v)
end

local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or generation == nil
    or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for clientops to observe generation " .. text(generation)
  return hs
end

local ready, stalled, reconciling
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Stalled" then
      stalled = c
    elseif c.type == "Reconciling" then
      reconciling = c
    end
  end
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled.reason) .. ": " .. text(stalled.message)
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling.reason) .. ": " .. text(reconciling.message)
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready.message)
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = text(ready.reason) .. ": " .. text(ready.message)
else
  hs.message = "Waiting for the Ready condition"
end
return hs
