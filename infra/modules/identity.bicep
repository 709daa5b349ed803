// The function app's user-assigned identity, and the bot's Entra app registration that trusts
// it: Graph tokens by client assertion (the identity's token for api://AzureADTokenExchange),
// so no secret exists. Application registrations come from the Microsoft Graph Bicep extension
// (bicepconfig.json). Graph application permissions and admin consent: docs/setup.md, step 3.
extension microsoftGraphV1

param name string
param location string
param tags object
@description('Stable key of the app registration (Graph Bicep upserts applications by uniqueName).')
param appUniqueName string
param appDisplayName string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

resource botApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: appUniqueName
  displayName: appDisplayName
  signInAudience: 'AzureADMyOrg'

  resource federated 'federatedIdentityCredentials@v1.0' = {
    name: '${botApp.uniqueName}/function-app-identity'
    description: 'The graph-ivr function app\'s managed identity: Graph tokens without a secret'
    audiences: ['api://AzureADTokenExchange']
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: identity.properties.principalId
  }
}

resource botServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: botApp.appId
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
output botAppId string = botApp.appId
