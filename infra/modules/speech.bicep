// Azure AI Speech for voicemail transcripts (fast transcription). Keys are disabled: the
// function app's managed identity calls it with an Entra ID token, which needs the custom
// subdomain endpoint and the Cognitive Services User role.
param name string
param location string
param tags object
@description('The managed identity that transcribes.')
param principalId string

resource speech 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'SpeechServices'
  sku: { name: 'S0' }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource speechUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(speech.id, principalId, 'a97b65f3-24c7-4388-baec-2e87135dc908')
  scope: speech
  properties: {
    // Cognitive Services User
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      'a97b65f3-24c7-4388-baec-2e87135dc908'
    )
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = 'https://${name}.cognitiveservices.azure.com'
