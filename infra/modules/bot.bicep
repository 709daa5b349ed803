// The Azure Bot: single-tenant, the bot app's id, the Microsoft Teams channel with calling
// enabled and Graph's calling webhook pointed at the function app.
param name string
param tags object
param botAppId string
param tenantId string
@description('https://<function app>/api/calls')
param callingWebhook string

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: { name: 'F0' }
  properties: {
    displayName: name
    endpoint: '' // a calling bot has no messaging endpoint
    msaAppId: botAppId
    msaAppType: 'SingleTenant'
    msaAppTenantId: tenantId
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      enableCalling: true
      callingWebhook: callingWebhook
      incomingCallRoute: 'graphPma'
    }
  }
}

output name string = bot.name
