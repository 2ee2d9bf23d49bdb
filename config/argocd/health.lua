-- Argo CD health check for licensing.kubelicense.io Products, LicenseTemplates and
-- Licensees (one script for the three kinds; see README.md for how to install it).
--
-- A status older than the spec says nothing about the spec, so until the
-- controller has observed the current generation the object is Progressing.
-- A Licensee that is suspended or expired is reconciled correctly and still not
-- what anyone wants running, so Licensed=False overrides Ready for those reasons;
-- so do license copies to application namespaces that are blocked or missing.

local function condition(obj, conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function result(status, c, fallback)
  local message = fallback
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    message = c.message
  end
  return {status = status, message = message}
end

local function health(obj)
  if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
    return result("Progressing", nil, "Waiting for the controller to report status")
  end
  local generation = obj.metadata.generation
  local observed = obj.status.observedGeneration
  if generation ~= nil and observed ~= generation then
    return result("Progressing", nil,
      "Waiting for the controller to observe generation " .. tostring(generation) ..
      " (observed " .. tostring(observed) .. ")")
  end

  local ready = condition(obj, "Ready")
  local stalled = condition(obj, "Stalled")

  if obj.kind == "Licensee" then
    local licensed = condition(obj, "Licensed")
    if licensed ~= nil and licensed.status == "False" then
      if licensed.reason == "Suspended" then
        return result("Suspended", licensed, "The licensee is suspended")
      end
      if licensed.reason == "Expired" then
        return result("Degraded", licensed, "Every license has expired")
      end
    end
    if ready ~= nil and ready.status == "False" and stalled ~= nil and stalled.status == "True" then
      return result("Degraded", stalled, ready.message)
    end
    -- Copies for application namespaces (spec.distribution): what only a
    -- person can fix is Degraded, a namespace or source still to come is
    -- Progressing.
    local distributed = condition(obj, "Distributed")
    if ready ~= nil and ready.status == "True" and distributed ~= nil and distributed.status == "False" then
      local reason = distributed.reason
      if reason == "SecretConflict" or reason == "ConfigMapConflict" or reason == "NamespaceNotOptedIn" or reason == "InvalidNamespaceSelector" then
        return result("Degraded", distributed, "License copies are blocked")
      end
      return result("Progressing", distributed, "Waiting for the license copies")
    end
    if ready ~= nil and ready.status == "True" then
      return result("Healthy", licensed, ready.message)
    end
    return result("Progressing", ready, "Waiting for the license to be issued")
  end

  -- Product, LicenseTemplate
  if ready ~= nil and ready.status == "True" then
    return result("Healthy", ready, "Ready")
  end
  if stalled ~= nil and stalled.status == "True" then
    return result("Degraded", stalled, "Stalled")
  end
  return result("Progressing", ready, "Waiting for the controller")
end

return health(obj)
