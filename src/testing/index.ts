export {
  startFakeTwilio,
  type FakeTwilio,
  type FakeTwilioFailure,
  type FakeTwilioMessage,
  type FakeTwilioOptions,
  type FakeTwilioRequest,
  type TwilioSpecValidator,
} from './fake-twilio.js';
export {
  startFakeWhatsApp,
  signMetaWebhook,
  type FakeWhatsApp,
  type FakeWhatsAppFailure,
  type FakeWhatsAppOptions,
  type FakeWhatsAppRequest,
  type FakeWhatsAppValidator,
} from './fake-whatsapp.js';
export { startFakeMessageCentral, type FakeMessageCentral, type FakeMessageCentralOptions, type FakeMessageCentralRequest } from './fake-message-central.js';
export {
  challengeOwner,
  challengeRecord,
  describeStoreContract,
  type StoreContractExpect,
  type StoreContractHooks,
  type StoreContractMatchers,
} from './store-contract/index.js';
