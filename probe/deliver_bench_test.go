package probe

import (
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// One telegram+bot+http:// attempt against the loopback Bot API, as the
// first attempt of a run makes it: getMe, sendMessage, deleteMessage over
// one kept connection.
func BenchmarkTelegramBotAttempt(b *testing.B) {
	bot := fixture.StartTelegramBot(b, testBotToken, "-1001234", fixture.TelegramHealthy)
	ep := benchEndpoint(b, "telegram+bot+http://"+strings.TrimPrefix(bot.URL, "http://"))
	setOptions(ep, "deliver", &deliverOptions{Token: secret{testBotToken}, ChatID: "-1001234", Within: DefaultDeliverWithin})
	benchAttempts(b, ep)
}
