-- Argo CD resource actions for clientops.dev/OAuthClient. Each stamps one of
-- clientops' trigger annotations with the current time; the controller acts once
-- per new value and records it in status (it never writes the annotation).
local actions = {}
actions["rotate"] = {["disabled"] = false}
actions["reconcile"] = {["disabled"] = false}
-- Ending a grace period early only makes sense while one runs.
local retiring = obj.status ~= nil and obj.status.rotation ~= nil
    and obj.status.rotation.phase == "Retiring"
actions["retire"] = {["disabled"] = not retiring}
return actions
