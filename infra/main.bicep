// graph-ivr on Azure: `azd up` deploys this (structure after Microsoft's Flex Consumption
// azd quickstart for TypeScript). No secret is stored anywhere: storage, Application Insights
// and Graph are reached with the function app's user-assigned managed identity.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region of every resource (one that offers Flex Consumption).')
param location string

@minValue(0)
@description('Always-ready instances of the HTTP functions: no cold start meets Graph\'s 15 s answer deadline.')
param alwaysReadyInstances int = 1

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([2048, 4096])
param instanceMemoryMB int = 2048

@secure()
@description('Signs webhook deliveries: `azd env set IVR_WEBHOOK_SECRET <32+ random characters>`; empty leaves webhooks off.')
param webhookSecret string = ''

@description('Sends voicemail e-mails (IVR_MAIL_SENDER): the mailbox UPN; empty leaves mail delivery off. Mail.Send and its scope: docs/setup.md.')
param mailSender string = ''

@description('Deploy an Azure AI Speech resource for voicemail transcripts (the identity gets Cognitive Services User).')
param transcripts bool = true

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-ivr-${token}'
    location: location
    tags: tags
    appUniqueName: 'graph-ivr-bot-${token}'
    appDisplayName: 'graph-ivr bot (${environmentName})'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stivr${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: 'ivr-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module speech 'modules/speech.bicep' = if (transcripts) {
  name: 'speech'
  scope: rg
  params: {
    name: 'spch-ivr-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-ivr-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    tenantId: tenant().tenantId
    botAppId: identity.outputs.botAppId
    alwaysReadyInstances: alwaysReadyInstances
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    webhookSecret: webhookSecret
    mailSender: mailSender
    speechEndpoint: transcripts ? speech!.outputs.endpoint : ''
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  scope: rg
  params: {
    name: 'bot-ivr-${token}'
    tags: tags
    botAppId: identity.outputs.botAppId
    tenantId: tenant().tenantId
    callingWebhook: 'https://${functionApp.outputs.defaultHostName}/api/calls'
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output BOT_APP_ID string = identity.outputs.botAppId
output AZURE_BOT_NAME string = bot.outputs.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output BOT_CALLBACK_URL string = 'https://${functionApp.outputs.defaultHostName}'
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
