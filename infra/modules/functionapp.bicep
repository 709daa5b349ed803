// The function app on Flex Consumption, Node.js 22, running as the user-assigned identity.
// Always-ready instances serve the HTTP functions, so a cold start never meets Graph's 15 s
// answer deadline. test/unit/infra.test.ts checks `appSettings` against the settings schema:
// keep it the only app settings, one `NAME: value` per line.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param appInsightsConnectionString string
param tenantId string
param botAppId string
param alwaysReadyInstances int
param maximumInstanceCount int
param instanceMemoryMB int
@secure()
@description('Signs webhook deliveries (IVR_WEBHOOK_SECRET); empty leaves webhooks off.')
param webhookSecret string = ''
@description('The mailbox voicemail e-mails are sent from (IVR_MAIL_SENDER); empty leaves mail delivery off.')
param mailSender string = ''
@description('The Speech resource\'s endpoint (IVR_SPEECH_ENDPOINT); empty: no transcripts.')
param speechEndpoint string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  BOT_APP_ID: botAppId
  BOT_CALLBACK_URL: 'https://${app.properties.defaultHostName}'
  AZURE_TENANT_ID: tenantId
  GRAPH_CREDENTIAL: 'federated'
  GRAPH_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  IVR_WEBHOOK_SECRET: webhookSecret
  IVR_MAIL_SENDER: mailSender
  IVR_SPEECH_ENDPOINT: speechEndpoint
  IVR_SPEECH_CLIENT_ID: identityClientId
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyInstances }] : []
      }
      runtime: { name: 'node', version: '22' }
    }
    siteConfig: { minTlsVersion: '1.2' }
  }
}

// Set after the site exists: the callback URL is the site's own default host name.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: appSettings
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
