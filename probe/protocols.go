package probe

// The tables that tie schemes, option blocks and expect keys to the files
// that implement them. Adding a protocol is adding its file and a line
// here, as in blackbox_exporter's prober table: greppable, no init()
// side effects.

var protocols = []*Protocol{
	&tcpProtocol,
	&tlsProtocol,
	&httpProtocol,
	&httpsProtocol,
	&xmppProtocol,
	&xmppsProtocol,
	&xmppDeliverProtocol,
	&dnsProtocol,
	&wsProtocol,
	&wssProtocol,
	&mtprotoProtocol,
	&threemaProtocol,
	&whatsAppProtocol, &whatsAppWSProtocol, &whatsAppWSSProtocol,
	&signalProtocol,
	&matrixDeliverProtocol,
	&matrixDeliverHTTPProtocol,
	&telegramBotProtocol,
	&telegramBotHTTPProtocol,
}

var blocks = []*Block{
	&expectBlock,
	&httpBlock,
	&tlsBlock,
	&xmppBlock,
	&websocketBlock,
	&mtprotoBlock,
	&threemaBlock,
	&whatsAppBlock,
	&signalBlock,
	&deliverBlock,
}

var expectKeys = []*ExpectKey{
	&expectStatus,
	&expectBodyContains,
	&expectJSON,
	&expectHeaders,
	&expectRcode,
	&expectMinAnswers,
	&expectAnswerContains,
	&expectAnswerNotContains,
	&expectOutageAnswers,
}
